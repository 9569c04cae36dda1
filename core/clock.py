"""The due-time clock: a task that falls due at a given second is queued at that second.

django-q2 queues a task now or on a schedule it checks every 30 s; neither runs a retry when
it is due. So a job that must run later leaves a mark, (task, arguments) scored by its due
time in a Redis sorted set of ours, once its transaction commits. Every cluster worker runs
a clock thread (started from django-q2's post_spawn signal) that, every CLOCK_SECONDS, pops
the marks that fell due, in one atomic script, and queues their tasks. The script hands each
mark to exactly one clock, however many workers and clusters share the Redis; it costs one
Redis call per tick and worker, and no database query.

A mark is a reminder, not the job: the job's own row (its status and due time) decides
whether the task does anything, and the row's sweep queues what a lost mark left behind.
With the database broker there is no Redis and no clock, and the sweeps queue retries."""

import json
import logging
import os
import threading
import time
from datetime import datetime

from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

from core import queue

logger = logging.getLogger(__name__)

# Pop every due mark (up to ARGV[2]) and remove it, atomically: two clocks never both get one.
_POP_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
"""
POP_LIMIT = 500


def clock_seconds() -> float:
    """How often each worker's clock looks for due marks; a task is queued at most this long
    after it fell due."""
    return float(getattr(settings, "HOOKDESK", {}).get("CLOCK_SECONDS", 0.5))


def _key() -> str:
    return queue.store_key("due")


def due_at(when: datetime, task: str, *args, **options) -> None:
    """Queue `task(*args)` (with django-q2 `options`, such as timeout) at `when`, once the
    current transaction commits. A mark for the same task and arguments moves to the new
    time. Without Redis, or if Redis fails, nothing is marked and the sweep queues it."""
    if queue.redis_store() is None:
        return
    member = json.dumps([task, list(args), options], sort_keys=True)
    transaction.on_commit(lambda: _mark(member, when.timestamp()))


def _mark(member: str, score: float) -> None:
    try:
        queue.redis_store().zadd(_key(), {member: score})
    except RedisError:
        logger.warning("could not mark %s due; the sweep will queue it", member, exc_info=True)


def due_marks() -> list[tuple[str, tuple, dict, float]]:
    """Every mark waiting, soonest first: (task, args, options, due timestamp)."""
    store = queue.redis_store()
    if store is None:
        return []
    marks = []
    for member, score in store.zrange(_key(), 0, -1, withscores=True):
        task, args, options = json.loads(member)
        marks.append((task, tuple(args), options, score))
    return marks


def clock_tick(*, now: float | None = None) -> int:
    """Queue every task whose mark fell due by `now`; returns how many were queued."""
    store = queue.redis_store()
    if store is None:
        return 0
    now = time.time() if now is None else now
    due = store.eval(_POP_DUE, 1, _key(), repr(now), POP_LIMIT)
    queued = 0
    for member in due:
        task, args, options = json.loads(member)
        queued += queue.task_enqueue(task, *args, **options)
    if queued:
        logger.debug("clock: queued %d due tasks", queued)
    return queued


def _clock_loop(stop: threading.Event) -> None:
    interval = clock_seconds()
    while not stop.wait(interval):
        try:
            clock_tick()
        except Exception:  # a Redis outage: keep ticking, the marks wait in Redis
            logger.warning("clock tick failed", exc_info=True)
            stop.wait(min(5.0, 10 * interval))


_started: dict[int, threading.Event] = {}


def clock_start(**kwargs) -> threading.Event | None:
    """Start this process's clock thread, once (the receiver of django-q2's post_spawn, sent
    in each new worker). Returns the event that stops it, or None without Redis."""
    if queue.redis_store() is None:
        return None
    pid = os.getpid()
    if pid not in _started:
        stop = threading.Event()
        thread = threading.Thread(target=_clock_loop, args=(stop,), name="hookdesk-clock")
        thread.daemon = True  # a worker that is recycled or killed takes its clock with it
        thread.start()
        _started[pid] = stop
    return _started[pid]
