"""The alert thresholds the demo ships with, and the oldest-pending-event alert: a backlog
that stopped moving is raised like a failure burst."""

import hashlib
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from console.alerts import alerts_evaluate
from console.models import Alert, AlertKind, AlertThreshold
from webhooks.models import Event, EventStatus

pytestmark = pytest.mark.django_db


def stored_event(endpoint, *, age: timedelta, status=EventStatus.PENDING, order_id="") -> Event:
    body = b'{"type": "order.created"}'
    return Event.objects.create(
        endpoint=endpoint,
        event_type="order.created",
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        received_at=timezone.now() - age,
        status=status,
        order_id=order_id,
    )


@pytest.fixture
def oldest_pending(db):
    return AlertThreshold.objects.create(
        name="Backlog stuck", kind=AlertKind.OLDEST_PENDING, limit=Decimal(300), window_minutes=15
    )


def test_it_seeds_the_default_thresholds_once(monkeypatch):
    monkeypatch.delenv("HOOKDESK_ADMIN_PASSWORD", raising=False)
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())

    seeded = sorted(
        AlertThreshold.objects.values_list("kind", "endpoint", "limit", "window_minutes", "enabled")
    )
    assert seeded == [
        (AlertKind.OLDEST_PENDING, None, Decimal(300), 15, True),
        (AlertKind.PROCESSING_FAILURES, None, Decimal(5), 15, True),
        (AlertKind.SIGNATURE_FAILURES, None, Decimal(20), 10, True),
    ]


def test_it_keeps_an_operators_own_default_threshold(monkeypatch):
    monkeypatch.delenv("HOOKDESK_ADMIN_PASSWORD", raising=False)
    AlertThreshold.objects.create(
        name="Ours", kind=AlertKind.SIGNATURE_FAILURES, limit=Decimal(3), window_minutes=5
    )

    call_command("seed_demo", stdout=io.StringIO())

    mine = AlertThreshold.objects.get(kind=AlertKind.SIGNATURE_FAILURES)
    assert (mine.name, mine.limit) == ("Ours", Decimal(3))
    assert AlertThreshold.objects.count() == 3


def test_it_raises_an_alert_when_an_event_waits_longer_than_the_limit(
    oldest_pending, make_endpoint
):
    endpoint, _ = make_endpoint("procureiq")
    waiting = stored_event(endpoint, age=timedelta(minutes=10), order_id="ord_waiting")
    stored_event(endpoint, age=timedelta(seconds=30))

    raised = alerts_evaluate()

    assert len(raised) == 1
    alert = raised[0]
    assert (alert.threshold, alert.endpoint) == (oldest_pending, endpoint)
    assert 600 <= alert.value < 700
    assert alert.order_ids == ["ord_waiting"]
    assert waiting.pk in alert.message and "2 pending" in alert.message
    assert " s on " in alert.message and "limit 300.00 s" in alert.message
    # Once per window: the next minute's evaluation raises nothing new.
    assert alerts_evaluate(now=timezone.now() + timedelta(minutes=1)) == []


def test_it_raises_nothing_while_the_backlog_moves(oldest_pending, make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    stored_event(endpoint, age=timedelta(minutes=2))
    stored_event(endpoint, age=timedelta(hours=2), status=EventStatus.PROCESSED)
    stored_event(endpoint, age=timedelta(hours=2), status=EventStatus.DEAD)

    assert alerts_evaluate() == []
    assert not Alert.objects.exists()


def test_it_judges_each_endpoint_on_its_own(oldest_pending, make_endpoint):
    stuck, _ = make_endpoint("procureiq")
    moving, _ = make_endpoint("autranex")
    stored_event(stuck, age=timedelta(minutes=20))
    stored_event(moving, age=timedelta(minutes=1))

    assert [alert.endpoint for alert in alerts_evaluate()] == [stuck]
