"""Wake-ups: with a Redis broker, the receiver queues one run per endpoint with events waiting,
not one task per event, and no stored event is left without a run that will take it."""

import pytest

from core.task_names import PROCESS_ENDPOINT as WAKE_TASK
from tests.postgres import requires_postgres
from tests.support.cluster import wait_for
from tests.support.events import deliver as deliver_event
from tests.support.events import procureiq
from tests.support.queue import TEST_REDIS_URL, redis_queued_tasks
from webhooks.models import Event, EventStatus
from webhooks.processing import endpoint_drain, endpoint_wake
from webhooks.services import endpoint_set_state


def _order(n: int) -> dict:
    return procureiq(
        "order.created",
        {"orderId": f"ord_w{n}", "userId": "usr_1", "totalAmount": 10 + n},
        event_id=f"evt_w{n}",
    )


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """deliver(endpoint_and_secret, n) posts one signed ProcureIQ order and runs what the
    receiver left for after its commit (the enqueue)."""

    def post(endpoint_and_secret, n: int) -> Event:
        with django_capture_on_commit_callbacks(execute=True):
            return deliver_event(*endpoint_and_secret, _order(n))

    return post


def _statuses(events):
    return [Event.objects.get(pk=event.pk).status for event in events]


@pytest.mark.django_db
def test_events_that_arrive_while_a_run_is_queued_share_it(deliver, make_endpoint, redis_queue):
    endpoint_and_secret = make_endpoint("procureiq")
    endpoint = endpoint_and_secret[0]
    events = [deliver(endpoint_and_secret, n) for n in range(5)]

    assert redis_queued_tasks(redis_queue) == [(WAKE_TASK, (endpoint.pk,))]

    assert endpoint_drain(endpoint_id=endpoint.pk) == 5
    assert _statuses(events) == ["processed"] * 5
    for event in events:
        assert list(event.processing_attempts.values_list("trigger", "outcome")) == [
            ("queue", "succeeded")
        ]


@pytest.mark.django_db
def test_an_event_after_the_run_started_queues_a_new_one(deliver, make_endpoint, redis_queue):
    endpoint_and_secret = make_endpoint("procureiq")
    endpoint = endpoint_and_secret[0]
    first = deliver(endpoint_and_secret, 1)
    endpoint_drain(endpoint_id=endpoint.pk)  # the run has cleared the mark and done its claim

    second = deliver(endpoint_and_secret, 2)

    assert redis_queued_tasks(redis_queue) == [(WAKE_TASK, (endpoint.pk,))] * 2
    assert endpoint_drain(endpoint_id=endpoint.pk) == 1
    assert _statuses([first, second]) == ["processed", "processed"]


@pytest.mark.django_db
def test_each_endpoint_has_its_own_run(deliver, make_endpoint, redis_queue):
    a, b = make_endpoint("procureiq"), make_endpoint("procureiq")
    for n in range(3):
        deliver(a, n)
        deliver(b, 10 + n)

    assert sorted(redis_queued_tasks(redis_queue)) == [
        (WAKE_TASK, (a[0].pk,)),
        (WAKE_TASK, (b[0].pk,)),
    ]
    assert endpoint_drain(endpoint_id=a[0].pk) == 3
    assert Event.objects.filter(endpoint=b[0], status=EventStatus.PENDING).count() == 3


@pytest.mark.django_db
def test_a_run_that_takes_a_full_batch_wakes_the_endpoint_again(
    deliver, make_endpoint, redis_queue
):
    endpoint_and_secret = make_endpoint("procureiq")
    endpoint = endpoint_and_secret[0]
    events = [deliver(endpoint_and_secret, n) for n in range(5)]
    redis_queue.purge_queue()

    assert endpoint_drain(endpoint_id=endpoint.pk, batch=2) == 2
    # The two oldest; the rest wait for the run it queued.
    assert _statuses(events) == ["processed"] * 2 + ["pending"] * 3
    assert redis_queued_tasks(redis_queue) == [(WAKE_TASK, (endpoint.pk,))]

    assert endpoint_drain(endpoint_id=endpoint.pk, batch=2) == 2
    assert endpoint_drain(endpoint_id=endpoint.pk, batch=2) == 1
    assert _statuses(events) == ["processed"] * 5
    # The last run took less than a batch: nothing is left to wake for.
    assert len(redis_queued_tasks(redis_queue)) == 2


@pytest.mark.django_db
def test_a_paused_endpoint_keeps_its_events_pending(deliver, make_endpoint, redis_queue):
    endpoint_and_secret = make_endpoint("procureiq")
    endpoint = endpoint_and_secret[0]
    event = deliver(endpoint_and_secret, 1)
    endpoint_set_state(endpoint=endpoint, state="paused")

    assert endpoint_drain(endpoint_id=endpoint.pk) == 0
    assert _statuses([event]) == ["pending"]


@pytest.mark.django_db
def test_a_failed_enqueue_leaves_no_mark_behind(make_endpoint, redis_queue):
    endpoint, _ = make_endpoint("procureiq")

    def refuse(task):
        raise ConnectionError("queue unreachable")

    redis_queue.enqueue = refuse
    assert endpoint_wake(endpoint.pk) is False
    del redis_queue.enqueue  # the queue is reachable again

    # The next event is not taken for covered by a run that was never queued.
    assert endpoint_wake(endpoint.pk) is True
    assert redis_queued_tasks(redis_queue) == [(WAKE_TASK, (endpoint.pk,))]


@requires_postgres()
@pytest.mark.cluster
def test_a_redis_cluster_processes_a_burst_once_each_with_few_tasks(
    deliver, make_endpoint, redis_queue, qcluster
):
    endpoint_and_secret = make_endpoint("procureiq")
    endpoint = endpoint_and_secret[0]
    events = [deliver(endpoint_and_secret, n).pk for n in range(60)]
    # Stored before the cluster starts: one queued run stands for the whole burst.
    assert redis_queued_tasks(redis_queue) == [(WAKE_TASK, (endpoint.pk,))]

    qcluster(redis_url=TEST_REDIS_URL)

    processed = Event.objects.filter(pk__in=events, status=EventStatus.PROCESSED)
    wait_for(lambda: processed.count() == 60, timeout=60)
    for event in Event.objects.filter(pk__in=events):
        assert list(event.processing_attempts.values_list("trigger", "outcome")) == [
            ("queue", "succeeded")
        ]
    assert redis_queued_tasks(redis_queue) == []
