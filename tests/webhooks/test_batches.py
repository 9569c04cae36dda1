"""Batched processing: one task takes the pending events of its endpoint, oldest first."""

import json

import pytest
from django.contrib.auth.models import Group

from tests.signing import as_meta, autranex_headers
from webhooks.models import AttemptOutcome, Event, EventStatus
from webhooks.processing import events_process
from webhooks.services import endpoint_set_state


@pytest.fixture
def receive(client, make_endpoint):
    """receive(endpoint_and_secret, order_id) stores one AUTRANEX order event, not processed."""

    def store(endpoint_and_secret, order_id: str) -> Event:
        endpoint, secret = endpoint_and_secret
        body = json.dumps(
            {
                "event_id": f"evt_{order_id}",
                "event_type": "order.created",
                "data": {"order_id": order_id, "order_value": 120, "currency": "USD"},
            }
        ).encode()
        response = client.post(
            endpoint.receiver_path,
            data=body,
            content_type="application/json",
            **as_meta(autranex_headers(body, secret)),
        )
        assert response.status_code == 200
        return Event.objects.get(pk=response.json()["event"])

    return store


def _statuses(events):
    return [Event.objects.get(pk=event.pk).status for event in events]


@pytest.mark.django_db
def test_one_run_processes_the_pending_events_of_its_endpoint(receive, make_endpoint, consumers):
    consumers("tests.support.consumers.record_group")
    endpoint = make_endpoint("autranex")
    events = [receive(endpoint, f"ord_{n}") for n in range(5)]

    assert events_process(event_id=events[2].pk, batch=4) == EventStatus.PROCESSED

    # The named event and the three oldest other pending ones.
    assert _statuses(events) == ["processed"] * 4 + ["pending"]
    for event in events[:4]:
        [attempt] = Event.objects.get(pk=event.pk).processing_attempts.all()
        assert attempt.outcome == AttemptOutcome.SUCCEEDED
        assert attempt.trigger == "queue"
        assert Group.objects.filter(name=f"seen {event.pk}").count() == 1
    processed = Event.objects.get(pk=events[0].pk)
    assert (processed.order_id, processed.attempts) == ("ord_0", 1)
    assert processed.order_view["amount"] == "120"
    assert processed.processed_at is not None and processed.claimed_at is None
    assert processed.processed_at == processed.updated_at

    # The tasks of events already taken find nothing to do.
    assert events_process(event_id=events[0].pk, batch=4) is None
    assert _statuses(events) == ["processed"] * 4 + ["pending"]
    assert Group.objects.filter(name__startswith="seen").count() == 4


@pytest.mark.django_db
def test_the_named_event_keeps_its_trigger(receive, make_endpoint, consumers):
    consumers("tests.support.consumers.record_group")
    endpoint = make_endpoint("autranex")
    first, second = receive(endpoint, "ord_a"), receive(endpoint, "ord_b")

    events_process(event_id=second.pk, trigger="sweep", batch=5)

    assert first.processing_attempts.get().trigger == "queue"
    assert second.processing_attempts.get().trigger == "sweep"


@pytest.mark.django_db
def test_a_failing_event_fails_alone(receive, make_endpoint, consumers):
    consumers("tests.support.consumers.failing_for_marked_orders")
    endpoint = make_endpoint("autranex")
    events = [receive(endpoint, order) for order in ("ord_1", "ord_fail", "ord_3")]

    assert events_process(event_id=events[0].pk, batch=10) == EventStatus.PROCESSED

    assert _statuses(events) == ["processed", "failed", "processed"]
    failed = Event.objects.get(pk=events[1].pk)
    [attempt] = failed.processing_attempts.all()
    assert attempt.outcome == AttemptOutcome.FAILED
    assert "cannot take order ord_fail" in failed.last_error
    # Nothing of the batch's first, rolled-back try is left: one record per processed event.
    assert Group.objects.filter(name=f"seen {events[0].pk}").count() == 1
    assert Group.objects.filter(name=f"seen {events[2].pk}").count() == 1
    assert not Group.objects.filter(name=f"seen {events[1].pk}").exists()


@pytest.mark.django_db
def test_a_run_takes_nothing_from_other_endpoints_or_paused_ones(receive, make_endpoint, consumers):
    consumers("tests.support.consumers.record_group")
    mine, other = make_endpoint("autranex"), make_endpoint("autranex")
    named = receive(mine, "ord_mine")
    elsewhere = receive(other, "ord_other")

    events_process(event_id=named.pk, batch=10)

    assert _statuses([named, elsewhere]) == ["processed", "pending"]

    endpoint_set_state(endpoint=other[0], state="paused")
    assert events_process(event_id=elsewhere.pk, batch=10) is None
    assert _statuses([elsewhere]) == ["pending"]


@pytest.mark.django_db
def test_a_run_leaves_retries_that_are_not_due(receive, make_endpoint, consumers):
    consumers("tests.support.consumers.failing_for_marked_orders")
    endpoint = make_endpoint("autranex")
    failing = receive(endpoint, "ord_fail")
    events_process(event_id=failing.pk, batch=10)
    assert _statuses([failing]) == ["failed"]

    fresh = receive(endpoint, "ord_fresh")
    events_process(event_id=fresh.pk, batch=10)

    assert _statuses([failing, fresh]) == ["failed", "processed"]
    assert Event.objects.get(pk=failing.pk).attempts == 1
