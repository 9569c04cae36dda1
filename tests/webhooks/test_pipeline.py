"""Processing: claim, canonical order view, consumers, retries with backoff, dead, sweep."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from core import queue
from tests.signing import as_meta, autranex_headers
from tests.support.queue import queued_event_ids
from webhooks.models import AttemptOutcome, Event, EventStatus
from webhooks.processing import event_process, events_sweep
from webhooks.services import endpoint_set_state

ORDER_HELD = (
    b'{"event_id":"evt_up_1","event_type":"order.held","data":{"order_id":"ord_1",'
    b'"order_value":5500.25,"currency":"USD","customer_id":"cus_9","block_id":"blk_up"}}'
)


@pytest.fixture
def stored_event(client, make_endpoint, django_capture_on_commit_callbacks):
    def store(body=ORDER_HELD, *, state="active") -> Event:
        endpoint, secret = make_endpoint("autranex")
        if state != "active":
            endpoint.state = state
            endpoint.save()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                endpoint.receiver_path,
                data=body,
                content_type="application/json",
                **as_meta(autranex_headers(body, secret)),
            )
        assert response.status_code == 200
        return Event.objects.get(pk=response.json()["event"])

    return store


def _make_due(event: Event) -> None:
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_it_enqueues_a_received_event_after_commit(stored_event):
    event = stored_event()
    assert queued_event_ids() == [(event.pk, "queue")]


@pytest.mark.django_db
def test_it_processes_an_event_into_the_canonical_order_view(stored_event, consumers):
    consumers("tests.support.consumers.record_group")
    event = stored_event()

    assert event_process(event_id=event.pk) == EventStatus.PROCESSED

    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    assert event.order_id == "ord_1"
    assert event.customer_id == "cus_9"
    assert event.order_view["amount"] == "5500.25"
    assert event.order_view["currency"] == "USD"
    assert event.order_view["upstream_block_id"] == "blk_up"
    assert event.order_view["ship_to_country"] is None
    assert event.processed_at is not None
    [attempt] = event.processing_attempts.all()
    assert (attempt.number, attempt.trigger, attempt.outcome) == (1, "queue", "succeeded")
    assert Group.objects.filter(name=f"seen {event.pk}").exists()


@pytest.mark.django_db
def test_it_processes_an_event_once_however_often_it_is_delivered(stored_event, consumers):
    consumers("tests.support.consumers.record_group")
    event = stored_event()

    assert event_process(event_id=event.pk) == EventStatus.PROCESSED
    assert event_process(event_id=event.pk) is None
    assert event_process(event_id=event.pk, trigger="sweep") is None

    assert Group.objects.filter(name=f"seen {event.pk}").count() == 1
    assert event.processing_attempts.count() == 1


@pytest.mark.django_db
def test_it_retries_with_backoff_then_marks_the_event_dead(stored_event, consumers):
    consumers("tests.support.consumers.failing")
    event = stored_event()
    expected_delays = [30, 120, 600]

    for attempt, delay in enumerate(expected_delays, start=1):
        before = timezone.now()
        assert event_process(event_id=event.pk) == EventStatus.FAILED
        event.refresh_from_db()
        assert event.attempts == attempt
        assert "downstream rule store unavailable" in event.last_error
        scheduled = (event.next_attempt_at - before).total_seconds()
        assert delay - 1 < scheduled < delay + 5
        # Not due yet: a redelivered task does nothing.
        assert event_process(event_id=event.pk) is None
        _make_due(event)

    assert event_process(event_id=event.pk) == EventStatus.DEAD
    event.refresh_from_db()
    assert event.status == EventStatus.DEAD
    assert event.next_attempt_at is None
    outcomes = list(event.processing_attempts.values_list("outcome", flat=True))
    assert outcomes == [AttemptOutcome.FAILED] * 4
    # What the failing consumer wrote before raising was rolled back every time.
    assert not Group.objects.filter(name__startswith="partial").exists()


@pytest.mark.django_db
def test_it_discards_a_run_whose_claim_was_taken_over(stored_event, consumers):
    consumers("tests.support.consumers.steal_claim")
    event = stored_event()

    assert event_process(event_id=event.pk) is None

    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSING
    assert not Group.objects.filter(name=f"stolen {event.pk}").exists()
    assert event.processing_attempts.count() == 0


@pytest.mark.django_db
def test_it_stores_but_does_not_process_while_the_endpoint_is_paused(stored_event):
    event = stored_event(state="paused")

    assert queued_event_ids() == []
    assert event_process(event_id=event.pk) is None
    Event.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(hours=1))
    assert events_sweep()["lost"] == 0

    assert endpoint_set_state(endpoint=event.endpoint, state="active") == 1
    assert queued_event_ids() == [(event.pk, "resume")]
    assert event_process(event_id=event.pk, trigger="resume") == EventStatus.PROCESSED


@pytest.mark.django_db
def test_it_sweeps_events_that_were_stored_but_never_queued(stored_event):
    event = stored_event()
    queue.broker().purge_queue()
    assert queued_event_ids() == []

    # Too recent to call lost: its task may still be on its way.
    assert events_sweep()["lost"] == 0
    Event.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=5))

    assert events_sweep()["lost"] == 1
    assert queued_event_ids() == [(event.pk, "sweep")]
    # Queued once: the next sweep leaves it alone while its task is pending.
    assert events_sweep()["lost"] == 0
    assert event_process(event_id=event.pk, trigger="sweep") == EventStatus.PROCESSED


@pytest.mark.django_db
def test_it_requeues_retries_when_they_fall_due(stored_event, consumers):
    consumers("tests.support.consumers.failing")
    event = stored_event()
    event_process(event_id=event.pk)
    queue.broker().purge_queue()

    assert events_sweep()["retries"] == 0
    _make_due(event)
    assert events_sweep()["retries"] == 1
    assert queued_event_ids() == [(event.pk, "retry")]


@pytest.mark.django_db
def test_it_recovers_events_claimed_by_a_worker_that_died(stored_event):
    event = stored_event()
    long_ago = timezone.now() - timedelta(hours=1)
    Event.objects.filter(pk=event.pk).update(
        status=EventStatus.PROCESSING, attempts=1, claimed_at=long_ago
    )
    queue.broker().purge_queue()

    figures = events_sweep()

    assert figures["released"] == 1
    assert figures["retries"] == 1
    event.refresh_from_db()
    assert event.status == EventStatus.FAILED
    assert event_process(event_id=event.pk, trigger="retry") == EventStatus.PROCESSED
    event.refresh_from_db()
    assert event.attempts == 2


@pytest.mark.django_db
def test_it_marks_dead_an_event_whose_last_attempt_lost_its_worker(stored_event):
    event = stored_event()
    Event.objects.filter(pk=event.pk).update(
        status=EventStatus.PROCESSING, attempts=4, claimed_at=timezone.now() - timedelta(hours=1)
    )

    assert events_sweep()["dead"] == 1
    event.refresh_from_db()
    assert event.status == EventStatus.DEAD


@pytest.mark.django_db
def test_it_has_a_periodic_sweep_schedule():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="hookdesk: sweep events")
    assert schedule.func == "webhooks.tasks.sweep_events"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)
