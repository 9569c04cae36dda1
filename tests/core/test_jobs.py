"""Durable jobs (core.jobs): claims that fence each other out, backoff, and the sweep's
due-time pickup, on real rows."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from console.models import ReplayRun, ReplayStatus
from core.jobs import Backoff, JobTable
from tests.postgres import requires_postgres

RUNS = JobTable(model=ReplayRun, task="console.replay.replay_run_step", fence="chunk", queued=None)


def test_backoff_waits_each_delay_in_turn_then_gives_up():
    backoff = Backoff.of([1, 2, 30])
    assert [backoff.delay(attempt) for attempt in (1, 2, 3, 4)] == [1.0, 2.0, 30.0, None]
    assert backoff.max_attempts == 4


def test_backoff_jitter_only_ever_lengthens_a_delay_by_at_most_its_share():
    backoff = Backoff.of([10], jitter=0.2)
    delays = {backoff.delay(1) for _ in range(200)}
    assert min(delays) >= 10 and max(delays) <= 12
    assert len(delays) > 1  # it does spread them


@pytest.mark.django_db
def test_of_two_runs_holding_the_same_token_only_one_claims():
    run = ReplayRun.objects.create()
    assert RUNS.claim_one(run.pk, 0, status=ReplayStatus.RUNNING) is True
    assert RUNS.claim_one(run.pk, 0, status=ReplayStatus.RUNNING) is False  # a redelivery
    run.refresh_from_db()
    assert (run.chunk, run.status) == (1, ReplayStatus.RUNNING)


@pytest.mark.django_db
def test_a_claim_respects_its_where():
    run = ReplayRun.objects.create(status=ReplayStatus.DONE)
    live = ReplayRun.objects.filter(status__in=[ReplayStatus.QUEUED, ReplayStatus.RUNNING])
    assert RUNS.claim_one(run.pk, 0, where=live) is False
    run.refresh_from_db()
    assert run.chunk == 0


@pytest.mark.django_db
def test_a_run_whose_claim_was_taken_over_writes_nothing():
    run = ReplayRun.objects.create()
    assert RUNS.claim_one(run.pk, 0)  # the first run: token 1
    assert RUNS.claim_one(run.pk, 1)  # judged dead and taken over: token 2
    assert RUNS.fenced(run.pk, 1).update(done=99) == 0  # the first run's outcome is void
    assert RUNS.fenced(run.pk, 2).update(done=7) == 1
    run.refresh_from_db()
    assert run.done == 7


@requires_postgres()
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_of_one_row_take_it_once():
    run = ReplayRun.objects.create()
    results, barrier = [], threading.Barrier(8)

    def claim():
        barrier.wait()
        try:
            results.append(RUNS.claim_one(run.pk, 0))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


@pytest.mark.django_db
def test_the_sweep_queues_due_rows_oldest_first_marks_them_and_respects_its_limit():
    table = JobTable(model=ReplayRun, task="console.replay.replay_run_step", fence="chunk",
                     queued="heartbeat_at")  # fmt: skip
    now = timezone.now()
    runs = [ReplayRun.objects.create(description=f"run {n}") for n in range(3)]
    for n, run in enumerate(runs):
        ReplayRun.objects.filter(pk=run.pk).update(created_at=now - timedelta(minutes=3 - n))
    queued = []

    count = table.requeue_due(
        ReplayRun.objects.filter(heartbeat_at__isnull=True),
        now=now,
        limit=2,
        order_by=("created_at",),
        values=("description",),
        enqueue=lambda row: queued.append(row) or True,
    )

    assert count == 2
    assert queued == [(runs[0].pk, "run 0"), (runs[1].pk, "run 1")]
    assert ReplayRun.objects.filter(heartbeat_at=now).count() == 2
    # Marked rows are out of the due set: the next sweep takes the third alone.
    queued.clear()
    table.requeue_due(
        ReplayRun.objects.filter(heartbeat_at__isnull=True),
        now=now,
        limit=2,
        order_by=("created_at",),
        enqueue=lambda row: queued.append(row) or True,
    )
    assert queued == [(runs[2].pk,)]


@pytest.mark.django_db
def test_the_sweep_counts_only_what_it_could_queue():
    ReplayRun.objects.create()
    count = RUNS.requeue_due(
        ReplayRun.objects.all(),
        now=timezone.now(),
        limit=10,
        order_by=("created_at",),
        enqueue=lambda row: False,  # the broker is down
    )
    assert count == 0
