"""The delivery engine against real HTTP receivers on loopback: envelopes and signatures of each
scheme, retries with X-Retry-Count, dead letters, 429, 410, timeouts, redirects, claims."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_q.models import OrmQ

from integrations.models import (
    AttemptResult,
    DeliveryStatus,
    Destination,
    OutboundAttempt,
    OutboundDelivery,
)
from integrations.outbound import (
    deliveries_create_for_hold,
    deliveries_requeue_due,
    delivery_send,
)
from rules.models import FINANCE_NOTE_HELD, FINANCE_NOTE_RELEASED
from rules.services import hold_release
from tests.integrations.support import Reply, drain, signature_valid
from tests.postgres import requires_postgres
from tests.support.events import process
from webhooks.providers import get_scheme
from webhooks.replay import event_replay


def test_it_writes_the_delivery_in_the_deciding_transaction(hold_order, make_destination, sinks):
    destination, _ = make_destination(sinks().url)
    hold = hold_order("ord_abc123")

    delivery = OutboundDelivery.objects.get()
    assert (delivery.destination, delivery.hold, delivery.event_type) == (
        destination,
        hold,
        "order.held",
    )
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.max_attempts == 9  # first attempt and the eight AUTRANEX retries


def test_it_writes_nothing_when_the_decision_rolls_back(hold_order, make_destination, people):
    make_destination("http://127.0.0.1:9/unused")
    hold = hold_order()
    OutboundDelivery.objects.all().delete()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        hold_release(hold=hold, actor=people["alice"], reason="verified")
        assert OutboundDelivery.objects.filter(event_type="order.released").exists()
        raise Abort

    assert not OutboundDelivery.objects.exists()


@pytest.mark.parametrize("scheme", ["autranex", "procureiq", "automation", "standard"])
def test_it_signs_each_scheme_as_its_receivers_verify_it(
    scheme, hold_order, make_destination, sinks
):
    sink = sinks()
    _, secret = make_destination(sink.url, signature_scheme=scheme, key="install-7")
    hold_order("ord_abc123", order_value=5500)

    delivery = drain(OutboundDelivery.objects.get())

    assert delivery.status == DeliveryStatus.SUCCEEDED
    [request] = sink.received
    assert signature_valid(scheme, request, secret)
    assert not signature_valid(scheme, request, get_scheme(scheme).new_secret())
    assert request.query == {"key": ["install-7"]}
    assert "x-retry-count" not in request.headers
    body = request.json()
    if scheme == "autranex":
        assert body["event_id"] == delivery.event_id
        assert body["event_type"] == "order.held"
        assert body["created_at"].endswith("Z")
        assert body["data"]["order_id"] == "ord_abc123"
        assert body["data"]["order_value"] == 5500
        assert body["data"]["currency"] == "USD"
        assert body["data"]["block_id"] == "blk_high_risk_over_5000"
        assert body["data"]["reasons"]
        assert body["data"]["payment_pre_authorisation"] == "voided"
        assert body["data"]["payment_note"] == FINANCE_NOTE_HELD
    elif scheme == "procureiq":
        assert (body["id"], body["type"]) == (delivery.event_id, "order.held")
        assert body["data"]["orderId"] == "ord_abc123"
        assert body["data"]["totalAmount"] == 5500
        assert request.headers["x-procureiq-event"] == "order.held"
    elif scheme == "automation":
        assert body == {"orderId": "ord_abc123", "eventType": "OrderHeld"}
    else:
        assert request.headers["webhook-id"] == delivery.event_id
        assert secret.startswith("whsec_")
        assert (body["type"], body["data"]["order_id"]) == ("order.held", "ord_abc123")


def test_it_says_a_release_needs_a_new_payment_authorisation(
    hold_order, make_destination, sinks, people
):
    sink = sinks()
    make_destination(sink.url)
    hold = hold_order()
    hold_release(hold=hold, actor=people["alice"], reason="KYC done")

    held, released = OutboundDelivery.objects.order_by("created_at")
    drain(held)
    drain(released)

    body = sink.received[1].json()
    assert body["event_type"] == "order.released"
    assert body["data"]["status"] == "released"
    assert body["data"]["payment_pre_authorisation"] == "reauthorisation_required"
    assert body["data"]["payment_note"] == FINANCE_NOTE_RELEASED


def test_it_gives_a_finance_scoped_destination_the_payment_facts_only(
    hold_order, make_destination, sinks
):
    sink = sinks()
    make_destination(sink.url, scope="finance")
    hold_order("ord_fin", order_value=7800)

    drain(OutboundDelivery.objects.get())

    data = sink.received[0].json()["data"]
    assert data["order_id"] == "ord_fin"
    assert data["order_value"] == 7800
    assert data["payment_pre_authorisation"] == "voided"
    assert "reasons" not in data and "block_id" not in data and "customer_id" not in data


def test_it_filters_by_event_type_block_and_active_flag(hold_order, make_destination, people):
    everything, _ = make_destination("http://127.0.0.1:9/a")
    releases, _ = make_destination("http://127.0.0.1:9/b", event_types=["order.released"])
    other_block, _ = make_destination("http://127.0.0.1:9/c", block_id="blk_other")
    this_block, _ = make_destination("http://127.0.0.1:9/d", block_id="blk_high_risk_over_5000")
    make_destination("http://127.0.0.1:9/e", active=False)

    hold = hold_order()
    hold_release(hold=hold, actor=people["alice"], reason="ok")

    sent = set(OutboundDelivery.objects.values_list("destination_id", "event_type"))
    assert sent == {
        (everything.pk, "order.held"),
        (everything.pk, "order.released"),
        (releases.pk, "order.released"),
        (this_block.pk, "order.held"),
        (this_block.pk, "order.released"),
    }
    assert other_block.pk not in {destination for destination, _ in sent}


def test_a_destination_added_after_holds_were_made_is_owed_the_next_one(
    hold_order, make_destination
):
    hold_order("ord_before")  # the worker has now read (and keeps) the list of destinations
    assert not OutboundDelivery.objects.exists()

    destination, _ = make_destination("http://127.0.0.1:9/new")
    hold = hold_order("ord_after")

    assert list(OutboundDelivery.objects.values_list("destination_id", "hold_id")) == [
        (destination.pk, hold.pk)
    ]


def test_it_does_not_notify_again_when_the_triggering_event_is_replayed(
    hold_order, make_destination, sinks, people
):
    sink = sinks()
    make_destination(sink.url)
    hold = hold_order("ord_replayed")
    drain(OutboundDelivery.objects.get())

    assert event_replay(event=hold.event, actor=people["oscar"], reason="check idempotency")
    process(hold.event, trigger="replay")
    # The outbox's unique constraint holds even if the decision were announced twice.
    deliveries_create_for_hold(hold=hold, event_type="order.held")
    for delivery in OutboundDelivery.objects.all():
        drain(delivery)

    assert hold.event.status == "processed"
    assert OutboundDelivery.objects.count() == 1
    assert len(sink.received) == 1


def test_it_retries_with_x_retry_count_until_it_succeeds(hold_order, make_destination, sinks):
    sink = sinks([Reply(500), Reply(500), Reply(200)])
    make_destination(sink.url, retry_schedule=[0.1, 0.1, 0.1])
    hold_order()

    delivery = drain(OutboundDelivery.objects.get())

    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert [r.headers.get("x-retry-count") for r in sink.received] == [None, "1", "2"]
    assert len({r.json()["event_id"] for r in sink.received}) == 1  # the receiver can dedupe
    log = list(delivery.log.values_list("number", "result", "status_code", "retry_count_header"))
    assert log == [
        (1, AttemptResult.HTTP_ERROR, 500, None),
        (2, AttemptResult.HTTP_ERROR, 500, 1),
        (3, AttemptResult.SUCCEEDED, 200, 2),
    ]
    assert all(attempt.duration_ms > 0 for attempt in delivery.log.all())


def test_it_dead_letters_after_the_last_retry(hold_order, make_destination, sinks):
    sink = sinks([Reply(503, body=b"x" * 50_000)])
    destination, _ = make_destination(sink.url, retry_schedule=[0.05, 0.05, 0.05])
    hold_order()

    delivery = drain(OutboundDelivery.objects.get())

    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.attempts == 4 and delivery.last_status_code == 503
    assert delivery.dead_at is not None and delivery.next_attempt_at is None
    assert len(sink.received) == 4
    snippets = OutboundAttempt.objects.values_list("response_snippet", flat=True)
    assert all(len(snippet) == 1024 for snippet in snippets)  # bounded
    destination.refresh_from_db()
    assert destination.consecutive_failures == 4 and destination.last_error == "HTTP 503"


def test_it_follows_the_autranex_schedule_with_a_little_jitter(hold_order, make_destination, sinks):
    sink = sinks([Reply(500)])
    make_destination(sink.url)
    hold_order()
    delivery = OutboundDelivery.objects.get()

    delays = []
    for _ in range(8):
        before = timezone.now()
        assert delivery_send(delivery_id=delivery.pk) == "retry"
        delivery.refresh_from_db()
        delays.append((delivery.next_attempt_at - before).total_seconds())
        OutboundDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert delivery_send(delivery_id=delivery.pk) == "dead"

    for delay, minutes in zip(delays, [1, 2, 4, 8, 16, 32, 64, 128], strict=True):
        assert minutes * 60 <= delay <= minutes * 60 * 1.1 + 1
    assert [r.headers.get("x-retry-count") for r in sink.received] == [
        None, "1", "2", "3", "4", "5", "6", "7", "8",
    ]  # fmt: skip


def test_it_honours_retry_after_on_429_up_to_a_cap(hold_order, make_destination, sinks, settings):
    settings.HOOKDESK_INTEGRATIONS = {"RETRY_AFTER_MAX_SECONDS": 600}
    sink = sinks([Reply(429, headers={"Retry-After": "120"}),
                  Reply(429, headers={"Retry-After": "86400"}), Reply(200)])  # fmt: skip
    make_destination(sink.url, retry_schedule=[1, 1, 1])
    hold_order()
    delivery = OutboundDelivery.objects.get()

    before = timezone.now()
    assert delivery_send(delivery_id=delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert 119 <= (delivery.next_attempt_at - before).total_seconds() <= 121
    assert delivery.log.get().result == AttemptResult.RATE_LIMITED

    OutboundDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    before = timezone.now()
    assert delivery_send(delivery_id=delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert 599 <= (delivery.next_attempt_at - before).total_seconds() <= 601

    OutboundDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert delivery_send(delivery_id=delivery.pk) == "succeeded"


def test_it_disables_a_destination_that_answers_410(hold_order, make_destination, sinks):
    sink = sinks([Reply(410)])
    destination, _ = make_destination(sink.url)
    hold_order("ord_1")

    assert delivery_send(delivery_id=OutboundDelivery.objects.get().pk) == "dead"

    destination.refresh_from_db()
    assert not destination.active
    assert "410" in destination.disabled_reason
    hold_order("ord_2")
    assert OutboundDelivery.objects.count() == 1  # no longer owed anything


def test_it_does_not_follow_redirects(hold_order, make_destination, sinks):
    elsewhere = sinks()
    sink = sinks([Reply(302, headers={"Location": elsewhere.url})])
    make_destination(sink.url, retry_schedule=[60])
    hold_order()

    assert delivery_send(delivery_id=OutboundDelivery.objects.get().pk) == "retry"

    assert len(sink.received) == 1 and elsewhere.received == []
    assert OutboundAttempt.objects.get().status_code == 302


def test_it_times_out_a_silent_receiver_while_others_still_get_theirs(
    transactional_db, hold_order, make_destination, sinks
):
    silent = sinks([Reply(hang=True)])
    healthy = sinks()
    make_destination(silent.url, name="silent", connection_timeout="PT3S")
    make_destination(healthy.url, name="healthy")
    hold_order()
    stuck = OutboundDelivery.objects.get(destination__name="silent")
    fine = OutboundDelivery.objects.get(destination__name="healthy")

    outcomes = {}

    def send_silent():
        try:
            outcomes["silent"] = delivery_send(delivery_id=stuck.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=send_silent)
    worker.start()
    time.sleep(0.1)
    assert delivery_send(delivery_id=fine.pk) == "succeeded"
    # Not behind the silent receiver: delivered while that one still waits for its answer.
    assert worker.is_alive()
    worker.join(15)

    assert outcomes["silent"] == "retry"
    attempt = OutboundAttempt.objects.get(delivery=stuck)
    assert attempt.result == AttemptResult.TIMEOUT
    assert attempt.duration_ms >= 2900
    assert "timed out after 3 s" in attempt.error
    assert len(healthy.received) == 1


def test_it_keeps_a_timing_out_destination_from_tying_up_workers(
    hold_order, make_destination, sinks
):
    silent = sinks([Reply(hang=True)])
    destination, _ = make_destination(silent.url, connection_timeout="PT0.5S")
    hold_order("ord_1")
    hold_order("ord_2")
    first, second = OutboundDelivery.objects.order_by("order_id")

    assert delivery_send(delivery_id=first.pk) == "retry"
    started = time.monotonic()
    assert delivery_send(delivery_id=second.pk) == "deferred"

    assert time.monotonic() - started < 0.4  # no request: the circuit is open
    second.refresh_from_db()
    destination.refresh_from_db()
    assert second.attempts == 0
    assert second.next_attempt_at == destination.paused_until
    assert len(silent.received) == 1


def test_it_sends_held_before_released_for_the_same_order(
    hold_order, make_destination, sinks, people
):
    sink = sinks([Reply(500), Reply(200)])
    make_destination(sink.url, retry_schedule=[0.1])
    hold = hold_order()
    hold_release(hold=hold, actor=people["alice"], reason="ok")
    held = OutboundDelivery.objects.get(event_type="order.held")
    released = OutboundDelivery.objects.get(event_type="order.released")

    assert delivery_send(delivery_id=held.pk) == "retry"
    assert delivery_send(delivery_id=released.pk) == "deferred"
    drain(held)
    drain(released)

    assert [r.json()["event_type"] for r in sink.received] == [
        "order.held",
        "order.held",
        "order.released",
    ]


@requires_postgres()
@pytest.mark.postgres
def test_it_sends_a_delivery_once_when_two_workers_run_it_at_once(
    transactional_db, hold_order, make_destination, sinks
):
    sink = sinks([Reply(200)])
    make_destination(sink.url)
    hold_order()
    delivery = OutboundDelivery.objects.get()

    barrier = threading.Barrier(4)
    outcomes = []

    def worker():
        try:
            barrier.wait()
            outcomes.append(delivery_send(delivery_id=delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert outcomes.count("succeeded") == 1
    assert len(sink.received) == 1
    assert OutboundAttempt.objects.count() == 1


def test_it_requeues_overdue_deliveries_from_the_watchdog(
    hold_order, make_destination, sinks, django_capture_on_commit_callbacks
):
    make_destination(sinks().url)
    hold_order()
    delivery = OutboundDelivery.objects.get()
    now = timezone.now()

    # Queued just now: the watchdog leaves it to the queue.
    assert deliveries_requeue_due(now=now) == 0
    # Queued long ago and still unsent (a lost enqueue): queued again, once.
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_requeue_due(now=now + timedelta(minutes=5)) == 1
    assert deliveries_requeue_due(now=now + timedelta(minutes=5, seconds=1)) == 0
    queued = [row.task["args"] for row in OrmQ.objects.all()
              if row.task["func"] == "integrations.tasks.send_delivery"]  # fmt: skip
    assert queued == [(delivery.pk,)]
    # A claim of a worker that died expires, and the delivery is queued again.
    OutboundDelivery.objects.filter(pk=delivery.pk).update(
        claimed_until=now + timedelta(minutes=1), queued_at=None
    )
    assert deliveries_requeue_due(now=now + timedelta(seconds=30)) == 0
    assert deliveries_requeue_due(now=now + timedelta(minutes=2)) == 1
    # Inactive destinations wait until they are switched back on.
    Destination.objects.update(active=False)
    OutboundDelivery.objects.update(queued_at=None)
    assert deliveries_requeue_due(now=now + timedelta(minutes=10)) == 0
