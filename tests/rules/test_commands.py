"""replay_events, backtest_block and purge_events as an operator runs them."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from core.models import AuditEntry
from rules.models import HeldOrder
from rules.services import block_create
from tests.support.events import deliver, process, procureiq
from webhooks.models import Delivery, Event, EventStatus


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def order(order_id, amount):
    return procureiq("order.created", {"orderId": order_id, "userId": "u1", "totalAmount": amount})


@pytest.fixture
def events(make_endpoint):
    endpoint = make_endpoint("procureiq", slug="piq")
    other = make_endpoint("procureiq", slug="other")
    stored = [deliver(*endpoint, order(f"o{n}", 1000 * n)) for n in range(1, 5)]
    stored.append(deliver(*other, order("x1", 9000)))
    for event in stored:
        process(event)
    return stored


@pytest.mark.django_db
def test_it_replays_the_events_matching_the_filters_with_a_summary(events):
    block_create(name="High value", condition="order_value > 2500")
    out, err = run("replay_events", "--endpoint", "piq", "--type", "order.created")

    assert "Replayed 4 event(s): 4 processed, 0 failed, 0 skipped." in out
    assert "4/4" in err
    assert sorted(HeldOrder.objects.values_list("order__order_id", flat=True)) == ["o3", "o4"]
    replayed = Event.objects.filter(endpoint__slug="piq")
    assert all(e.processing_attempts.filter(trigger="replay").exists() for e in replayed)
    assert not Event.objects.get(order_id="x1").processing_attempts.filter(trigger="replay")
    entry = AuditEntry.objects.get(action="event.replayed")
    assert "endpoint=piq" in entry.reason
    assert entry.after == {"events": 4}

    # Replaying again holds nothing twice.
    run("replay_events", "--endpoint", "piq")
    assert HeldOrder.objects.count() == 2


@pytest.mark.django_db
def test_it_refuses_a_bad_date_filter():
    with pytest.raises(CommandError, match="ISO 8601"):
        run("replay_events", "--since", "yesterday")


@pytest.mark.django_db
def test_it_backtests_a_block_from_the_command_line(events):
    block = block_create(name="Draft", condition="order_value > 2500", status="draft")
    out, _ = run("backtest_block", block.block_id, "--json")
    result = json.loads(out)
    assert result["orders_matched"] == 3
    assert result["total_value"] == "16000"
    assert not HeldOrder.objects.exists()

    text, _ = run("backtest_block", block.block_id)
    assert "3 order(s) matched" in text

    future = (timezone.now() + timedelta(days=1)).isoformat()
    empty = json.loads(run("backtest_block", block.block_id, "--since", future, "--json")[0])
    assert empty["orders_matched"] == 0


@pytest.mark.django_db
def test_it_purges_old_events_but_keeps_evidence(events):
    block_create(name="High value", condition="order_value > 3500")
    held = Event.objects.get(order_id="o4")
    process_again = Event.objects.filter(pk=held.pk)
    process_again.update(status=EventStatus.PENDING, attempts=0)
    process(held)
    assert HeldOrder.objects.filter(event=held).exists()
    long_ago = timezone.now() - timedelta(days=120)
    Event.objects.update(received_at=long_ago)
    Delivery.objects.update(received_at=long_ago)
    fresh = Event.objects.get(order_id="o1")
    Event.objects.filter(pk=fresh.pk).update(received_at=timezone.now())

    dry, _ = run("purge_events", "--older-than", "90d", "--dry-run")
    assert "Would delete 3 event(s)" in dry
    assert Event.objects.count() == 5

    out, _ = run("purge_events", "--older-than", "90d")
    assert "Deleted 3 event(s)" in out
    assert set(Event.objects.values_list("order_id", flat=True)) == {"o1", "o4"}


@pytest.mark.django_db
def test_it_refuses_a_bad_age():
    with pytest.raises(CommandError, match="days"):
        run("purge_events", "--older-than", "3 months")
