"""The due-time clock (core.clock): marks written when their transaction commits, popped by
exactly one clock when due, and queued on the broker."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core import clock
from core.task_names import SEND_DELIVERY
from tests.support.queue import redis_queued_tasks


@pytest.mark.django_db(transaction=True)
def test_a_mark_is_written_when_its_transaction_commits_and_not_before(redis_queue):
    when = timezone.now() + timedelta(seconds=30)
    with transaction.atomic():
        clock.due_at(when, "webhooks.tasks.process_event", "evt_1", "retry")
        assert clock.due_marks() == []
    [(task, args, options, score)] = clock.due_marks()
    assert (task, args, options) == ("webhooks.tasks.process_event", ("evt_1", "retry"), {})
    assert score == pytest.approx(when.timestamp())


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_mark(redis_queue):
    with pytest.raises(RuntimeError), transaction.atomic():
        clock.due_at(timezone.now(), "webhooks.tasks.process_event", "evt_1", "retry")
        raise RuntimeError
    assert clock.due_marks() == []


@pytest.mark.django_db(transaction=True)
def test_a_tick_queues_what_fell_due_and_keeps_the_rest(redis_queue):
    now = timezone.now()
    clock.due_at(now - timedelta(seconds=1), SEND_DELIVERY, "dlv_1", timeout=75)
    clock.due_at(now + timedelta(seconds=60), SEND_DELIVERY, "dlv_2")

    assert clock.clock_tick(now=now.timestamp()) == 1
    assert redis_queued_tasks(redis_queue) == [("integrations.tasks.send_delivery", ("dlv_1",))]
    assert [mark[1] for mark in clock.due_marks()] == [("dlv_2",)]
    assert clock.clock_tick(now=now.timestamp()) == 0  # a mark is queued once


@pytest.mark.django_db(transaction=True)
def test_marking_the_same_task_again_moves_it(redis_queue):
    now = timezone.now()
    clock.due_at(now + timedelta(seconds=5), "webhooks.tasks.process_event", "evt_1", "retry")
    clock.due_at(now + timedelta(seconds=50), "webhooks.tasks.process_event", "evt_1", "retry")
    [mark] = clock.due_marks()
    assert mark[3] == pytest.approx((now + timedelta(seconds=50)).timestamp())


@pytest.mark.django_db(transaction=True)
def test_clocks_ticking_at_once_queue_each_mark_exactly_once(redis_queue):
    now = timezone.now()
    for n in range(200):
        clock.due_at(now, "webhooks.tasks.process_event", f"evt_{n}", "retry")
    barrier = threading.Barrier(4)
    counts = []

    def tick():
        barrier.wait()
        counts.append(sum(clock.clock_tick(now=time.time()) for _ in range(5)))

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 200
    queued = sorted(args[0] for _, args in redis_queued_tasks(redis_queue))
    assert queued == sorted(f"evt_{n}" for n in range(200))


def test_without_redis_nothing_is_marked_and_no_clock_starts(settings, monkeypatch):
    from core import queue

    monkeypatch.setattr(queue, "redis_store", lambda: None)
    clock.due_at(timezone.now(), "webhooks.tasks.process_event", "evt_1", "retry")
    assert clock.clock_start() is None
    assert clock.clock_tick() == 0
