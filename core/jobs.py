"""Durable jobs: rows of our own tables that a django-q2 task works on.

Event processing, outbound deliveries and the console's background runs are all jobs of this
kind. The broker delivers a task at least once (the database broker redelivers after `retry`)
or at most once (Redis keeps no acknowledgement, and a crash loses what was queued), so a task
is never the job itself, only a reminder that a row wants work:

- **Claim with fencing.** Every claim moves the row's fencing token (a counter: the attempt
  number, or a run's chunk number) on, in the same UPDATE that takes it. The run that got the
  claim writes its outcome through `fenced()`, which matches nothing once a later claim took
  the row over: of two runs handed the same row, only one outcome is ever kept.
- **Attempts and backoff.** The token counts the attempts; `Backoff` says how long to wait after
  each failed one, and when there are no attempts left.
- **Due-time pickup.** A retry is queued by the clock (`core.clock`) when it falls due, to the
  second. The table's periodic sweep (`requeue_due`) is the safety net for whatever a lost task
  or a lost clock mark left behind, not the clock.
"""

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import models, transaction
from django.db.models import F, QuerySet
from redis.exceptions import RedisError

from core import clock, queue

logger = logging.getLogger(__name__)
_jitter = random.SystemRandom()


@dataclass(frozen=True)
class Backoff:
    """How long to wait after each failed attempt: `delays[n - 1]` seconds after attempt n,
    stretched by up to `jitter` (0.2: up to 20% longer) so that retries of many jobs that
    failed together do not all come back at once. After the last delay's attempt, none."""

    delays: tuple[float, ...]
    jitter: float = 0.0

    @classmethod
    def of(cls, delays: Sequence[float], *, jitter: float = 0.0) -> "Backoff":
        return cls(tuple(float(delay) for delay in delays), jitter)

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def delay(self, attempt: int) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (from 1), or None when that
        attempt was the last."""
        if attempt > len(self.delays):
            return None
        base = self.delays[max(attempt, 1) - 1]
        return base * (1 + _jitter.uniform(0, self.jitter)) if self.jitter else base


@dataclass(frozen=True)
class JobTable:
    """A model whose rows are durable jobs, and the task that works one of them.

    `fence` names the fencing token, the counter every claim increments. `queued` names the
    column the sweep marks when it queues a row (so that two sweeps, or a sweep and a fresh
    enqueue, do not queue it twice), or is None for a table without a sweep."""

    model: type[models.Model]
    task: str
    fence: str = "attempts"
    queued: str | None = "queued_at"

    def claim(self, queryset: QuerySet, **changes) -> int:
        """Take every row of `queryset` for this run in one UPDATE that moves each row's token
        on, writing `changes` alongside. Returns how many rows were taken.

        The queryset says which rows may be taken (due, not claimed by a live run, at the
        token the caller read); rows it no longer matches when the UPDATE runs are not taken."""
        return queryset.update(**{self.fence: F(self.fence) + 1}, **changes)

    def claim_one(self, pk, fence: int, *, where: QuerySet | None = None, **changes) -> bool:
        """Take one row if its token is still `fence` (and it is in `where`, if given)."""
        rows = where if where is not None else self.model.objects.all()
        return self.claim(rows.filter(pk=pk, **{self.fence: fence}), **changes) == 1

    def fenced(self, pk, fence: int) -> QuerySet:
        """The row, for as long as the claim that left its token at `fence` still holds it.
        A run writes its outcome through this: once another claim took the row over, the
        write matches nothing and the run knows its work is void."""
        return self.model.objects.filter(pk=pk, **{self.fence: fence})

    def enqueue(self, *args, **options) -> bool:
        """Queue the table's task now (see core.queue.task_enqueue)."""
        return queue.task_enqueue(self.task, *args, **options)

    def enqueue_on_commit(self, *args, **options) -> None:
        """Queue the table's task once the current transaction commits: a worker must find
        the row it is told about."""
        transaction.on_commit(lambda: self.enqueue(*args, **options))

    def due_at(self, when: datetime, *args, **options) -> None:
        """Queue the table's task at `when`, to the second, once the current transaction
        commits (core.clock). If the mark is lost, the sweep queues the row instead."""
        clock.due_at(when, self.task, *args, **options)

    def requeue_due(
        self,
        queryset: QuerySet,
        *,
        now: datetime,
        limit: int,
        order_by: Sequence[str],
        values: Sequence[str] = (),
        enqueue: Callable[[tuple], bool] | None = None,
    ) -> int:
        """The sweep's half of due-time pickup: queue up to `limit` rows of `queryset` (the
        rows that are due and that nobody runs or has just queued), oldest first, marking each
        queued at `now`. Returns how many it queued.

        Rows another sweep is locking are skipped, so two sweeps at once split the work. Each
        row is queued with `enqueue(row)`, where row is (pk, *values); by default the task is
        called with the pk alone."""
        with transaction.atomic():
            rows = list(
                queryset.order_by(*order_by)
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", *values)[:limit]
            )
            if rows and self.queued:
                self.model.objects.filter(pk__in=[row[0] for row in rows]).update(
                    **{self.queued: now}
                )
        enqueue = enqueue or (lambda row: self.enqueue(row[0]))
        return sum(bool(enqueue(row)) for row in rows)


@dataclass(frozen=True)
class WakeUps:
    """Coalesced wake-ups: at most one queued, not yet started run of `task` per owner (an
    endpoint, a destination), however many jobs of that owner arrive meanwhile.

    A wake-up marks its owner in Redis (`SET NX`, `seconds`) and queues the run only if the mark
    was not there. The run clears the mark before it looks for work, so a job stored after
    that queues a new run, and no job can fall between the two. The mark expires: a run the
    broker lost delays its owner's jobs by at most `seconds` while jobs keep coming, and the
    sweep covers the rest. Without Redis, every wake-up queues a run."""

    name: str
    task: str
    seconds: int = 5
    timeout: int | None = None  # the run's task timeout, when not the cluster's

    def _key(self, owner) -> str:
        return queue.store_key(self.name, owner)

    def wake(self, owner) -> bool:
        """Make sure a run for `owner` is queued; False when the broker refused it."""
        store = queue.redis_store()
        if store is not None:
            try:
                if not store.set(self._key(owner), "1", nx=True, ex=self.seconds):
                    return True
            except RedisError:
                logger.warning("%s mark of %s failed; queueing anyway", self.name, owner,
                               exc_info=True)  # fmt: skip
        options = {"timeout": self.timeout} if self.timeout else {}
        if queue.task_enqueue(self.task, owner, **options):
            return True
        self.clear(owner)  # nothing is queued: let the next job try again
        return False

    def clear(self, owner) -> None:
        """Remove the owner's mark, as a run starts (failing that, it expires by itself)."""
        store = queue.redis_store()
        if store is not None:
            try:
                store.delete(self._key(owner))
            except RedisError:
                logger.warning("could not clear the %s mark of %s", self.name, owner)
