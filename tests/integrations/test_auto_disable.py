"""A destination that has failed without a single success for `disable_after_seconds` is
switched off, audited and announced; its pending deliveries wait, and go out in order when an
operator enables it again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import AuditEntry
from integrations import drain
from integrations.models import DeliveryStatus, Destination, OutboundDelivery
from integrations.outbound import delivery_send
from integrations.services import destination_update
from integrations.signals import destination_disabled
from tests.integrations.support import Reply

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def disabled_events():
    seen = []

    def receiver(sender, destination, reason, **kwargs):
        seen.append((destination.pk, reason))

    destination_disabled.connect(receiver, dispatch_uid="test-disabled")
    yield seen
    destination_disabled.disconnect(dispatch_uid="test-disabled")


def _first_pending(destination) -> OutboundDelivery:
    return OutboundDelivery.objects.filter(
        destination=destination, status=DeliveryStatus.PENDING
    ).earliest("created_at")


def test_a_failure_starts_the_clock_and_a_success_stops_it(hold_order, make_destination, sinks):
    destination, _ = make_destination(sinks([Reply(500), Reply(200)]).url, retry_schedule=[0])
    hold_order()
    delivery = OutboundDelivery.objects.get()

    assert delivery_send(delivery_id=delivery.pk) == "retry"
    destination.refresh_from_db()
    assert destination.failing_since is not None and destination.active
    assert delivery_send(delivery_id=delivery.pk) == "succeeded"
    destination.refresh_from_db()
    assert destination.failing_since is None


def test_failing_for_longer_than_the_setting_disables_and_keeps_the_deliveries(
    hold_order, make_destination, sinks, disabled_events
):
    destination, _ = make_destination(
        sinks([Reply(500)]).url, disable_after_seconds=60, retry_schedule=[0, 0]
    )
    hold_order("ord_a")
    hold_order("ord_b")
    Destination.objects.filter(pk=destination.pk).update(
        failing_since=timezone.now() - timedelta(seconds=61)
    )

    assert delivery_send(delivery_id=_first_pending(destination).pk) == "retry"

    destination.refresh_from_db()
    assert destination.active is False
    assert "every attempt failed from" in destination.disabled_reason
    assert disabled_events == [(destination.pk, destination.disabled_reason)]
    audit = AuditEntry.objects.filter(object_type="destination", object_id=destination.pk).latest(
        "id"
    )
    assert (audit.before, audit.after) == ({"active": True}, {"active": False})
    assert OutboundDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2
    assert drain.destination_drain(destination_id=destination.pk) == 0  # nothing goes out


def test_failing_for_less_than_the_setting_keeps_it_on(hold_order, make_destination, sinks):
    destination, _ = make_destination(sinks([Reply(500)]).url, disable_after_seconds=3600)
    hold_order()
    Destination.objects.filter(pk=destination.pk).update(
        failing_since=timezone.now() - timedelta(seconds=60)
    )
    delivery_send(delivery_id=OutboundDelivery.objects.get().pk)
    destination.refresh_from_db()
    assert destination.active is True


def test_enabled_again_its_pending_deliveries_go_out_in_the_order_they_were_made(
    hold_order, make_destination, sinks
):
    sink = sinks()
    destination, _ = make_destination(sink.url, max_in_flight=1)
    orders = [f"ord_{n}" for n in range(4)]
    for order_id in orders:
        hold_order(order_id)
    # Switched off while failing: its deliveries were due at all sorts of later times.
    Destination.objects.filter(pk=destination.pk).update(
        active=False, disabled_reason="every attempt failed", consecutive_failures=9
    )
    for n, delivery in enumerate(OutboundDelivery.objects.order_by("-created_at")):
        OutboundDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() + timedelta(minutes=n + 1)
        )

    destination_update(destination=destination, active=True)

    destination.refresh_from_db()
    assert (destination.consecutive_failures, destination.disabled_reason) == (0, "")
    for _ in orders:
        drain.destination_drain(destination_id=destination.pk)
    assert [request.json()["data"]["order_id"] for request in sink.received] == orders
