"""Backtest: what a block would have held over stored events of a period. Changes nothing.

One evaluation loop, `BacktestScan`, serves both `block_backtest` (in one go, for the command
line) and backtest runs (`BacktestRun`: the console's and the API's, worked through in chunks on
the django-q2 cluster so that no web request has to outlast a long period)."""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core import task_names
from core.jobs import JobTable
from rules.evaluation import Match, compiled, reasons_for, signals_needed
from rules.models import (
    BacktestRun,
    BacktestStatus,
    Block,
    BlockAction,
    HeldOrder,
    HoldStatus,
    Order,
)
from rules.risk_signals import SignalInputs, ofac_regions, signals_compute, signals_for_json
from webhooks.models import Event, EventStatus
from webhooks.providers import OrderView

logger = logging.getLogger(__name__)

SAMPLE_SIZE = 20
MAX_EVENTS = 200_000
# Order ids per query when looking up what became of the matched orders: an IN list this long
# stays well inside PostgreSQL's parameter limit and plans as an index lookup.
OUTCOME_BATCH = 5000
# What became of an order, by its latest hold; `never_held` when it has none.
OUTCOME_OF_STATUS = {HoldStatus.HELD: "open", HoldStatus.RELEASED: "released",
                     HoldStatus.REJECTED: "rejected"}  # fmt: skip


def outcomes_empty() -> dict[str, int]:
    return {"rejected": 0, "released": 0, "open": 0, "never_held": 0}


@dataclass
class BacktestResult:
    block_id: str
    action: str
    since: datetime | None
    until: datetime | None
    events_evaluated: int = 0
    orders_matched: int = 0
    total_value: Decimal = Decimal("0")
    sample: list[dict] = field(default_factory=list)
    truncated: bool = False
    outcomes: dict[str, int] = field(default_factory=outcomes_empty)

    def as_json(self) -> dict:
        return {
            "block_id": self.block_id,
            "action": self.action,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "events_evaluated": self.events_evaluated,
            "orders_matched": self.orders_matched,
            "would_hold": self.orders_matched if self.action == BlockAction.HOLD else 0,
            "total_value": str(self.total_value),
            "sample": self.sample,
            "truncated": self.truncated,
            "outcomes": dict(self.outcomes),
        }

    @classmethod
    def from_json(cls, data: dict) -> "BacktestResult":
        """The inverse of as_json: a run's result so far, to go on from."""
        return cls(
            block_id=data["block_id"],
            action=data["action"],
            since=parse_datetime(data["since"]) if data.get("since") else None,
            until=parse_datetime(data["until"]) if data.get("until") else None,
            events_evaluated=data["events_evaluated"],
            orders_matched=data["orders_matched"],
            total_value=Decimal(data["total_value"]),
            sample=list(data["sample"]),
            truncated=data["truncated"],
            # A run started before outcomes were counted goes on from none.
            outcomes={**outcomes_empty(), **data.get("outcomes", {})},
        )


def _view_from_json(data: dict) -> OrderView:
    amount = data.get("amount")
    return OrderView(
        event_type=data.get("event_type", ""),
        order_id=data.get("order_id"),
        customer_id=data.get("customer_id"),
        amount=Decimal(amount) if amount is not None else None,
        currency=data.get("currency"),
        ship_to_country=data.get("ship_to_country"),
        bill_to_country=data.get("bill_to_country"),
        payment_method=data.get("payment_method"),
        payment_id=data.get("payment_id"),
        upstream_block_id=data.get("upstream_block_id"),
    )


def backtest_events(
    *, event_types: list[str], since: datetime | None, until: datetime | None
) -> QuerySet[Event]:
    """The processed order events received in [since, until) that a block of `event_types`
    reads (all order events when empty)."""
    events = Event.objects.filter(status=EventStatus.PROCESSED).exclude(order_id="")
    if since:
        events = events.filter(received_at__gte=since)
    if until:
        events = events.filter(received_at__lt=until)
    if event_types:
        events = events.filter(event_type__in=event_types)
    return events


def order_outcomes(order_ids: list[str]) -> dict[str, int]:
    """What became of these orders, each counted once by its latest hold, whichever block (or
    upstream) made it: `open`, `released`, `rejected`, or `never_held`. One grouped query per
    OUTCOME_BATCH orders; an order id with no order row (too long to key one) was never held."""
    counts = outcomes_empty()
    for start in range(0, len(order_ids), OUTCOME_BATCH):
        batch = order_ids[start : start + OUTCOME_BATCH]
        latest = HeldOrder.objects.filter(order=OuterRef("pk")).order_by("-created_at", "-pk")
        rows = (
            Order.objects.filter(order_id__in=batch)
            .annotate(latest_status=Subquery(latest.values("status")[:1]))
            .values("latest_status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        held = 0
        for row in rows:
            if row["latest_status"] is not None:
                counts[OUTCOME_OF_STATUS[row["latest_status"]]] += row["n"]
                held += row["n"]
        counts["never_held"] += len(batch) - held
    return counts


@dataclass
class BacktestScan:
    """A backtest's evaluation loop with everything it carries from one chunk to the next: the
    result so far, the orders already matched (each order counts once, at its first matching
    event) and the last event evaluated, in (received_at, id) order.

    The outcomes of the orders matched are counted at the end of each `run()` for the orders it
    newly matched, so a run's chunks add them up as they go (and a cancelled run keeps those of
    the chunks it saved), each with one query over the holds."""

    block: Block
    result: BacktestResult
    matched_orders: set[str] = field(default_factory=set)
    cursor: tuple[datetime, str] | None = None
    finished: bool = False
    newly_matched: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls, *, block: Block, since: datetime | None, until: datetime | None
    ) -> "BacktestScan":
        return cls(
            block=block,
            result=BacktestResult(
                block_id=block.block_id, action=block.action, since=since, until=until
            ),
        )

    @classmethod
    def of_run(cls, run: BacktestRun) -> "BacktestScan":
        """Where `run` got to. Its block is evaluated as it was when the run started."""
        block = Block(
            pk=run.block_id,
            block_id=run.block.block_id,
            name=run.block.name,
            condition=run.condition,
            action=run.action,
            event_types=run.event_types,
            version=run.block_version,
        )
        scan = cls.start(block=block, since=run.since, until=run.until)
        if run.result:
            scan.result = BacktestResult.from_json(run.result)
        scan.matched_orders = set(run.state.get("matched_orders", []))
        if run.cursor_received_at is not None:
            scan.cursor = (run.cursor_received_at, run.cursor_event_id)
        return scan

    def state_json(self) -> dict:
        return {"matched_orders": sorted(self.matched_orders)}

    def events(self) -> QuerySet[Event]:
        """The events left to evaluate, in order."""
        events = backtest_events(
            event_types=self.block.event_types, since=self.result.since, until=self.result.until
        )
        if self.cursor is not None:
            at, event_id = self.cursor
            events = events.filter(Q(received_at__gt=at) | Q(received_at=at, pk__gt=event_id))
        return events.order_by("received_at", "pk")

    def run(self, *, max_events: int | None = None, deadline: float | None = None) -> None:
        """Evaluate the events left: all of them, or at most `max_events`, stopping after the
        event that passes `deadline` (a time.monotonic() value). Sets `finished` when none is
        left, or when MAX_EVENTS were evaluated (the result then says `truncated`). Then counts
        what became of the orders it matched."""
        self._scan(max_events=max_events, deadline=deadline)
        outcomes = order_outcomes(self.newly_matched)
        self.result.outcomes = {
            name: self.result.outcomes.get(name, 0) + count for name, count in outcomes.items()
        }
        self.newly_matched = []

    def _scan(self, *, max_events: int | None, deadline: float | None) -> None:
        condition = compiled(self.block.condition)
        names = signals_needed([self.block])
        ofac = ofac_regions()
        orders: dict[str, Order | None] = {}
        rows = self.events().select_related("endpoint")
        if max_events is not None:
            rows = rows[:max_events]
        seen = 0
        for event in rows.iterator(chunk_size=2000):
            if self.result.events_evaluated >= MAX_EVENTS:
                self.result.truncated = self.finished = True
                return
            self._evaluate(event, condition=condition, names=names, ofac=ofac, orders=orders)
            self.cursor = (event.received_at, event.pk)
            seen += 1
            if deadline is not None and time.monotonic() > deadline:
                return
        self.finished = max_events is None or seen < max_events

    def _evaluate(self, event: Event, *, condition, names, ofac, orders) -> None:
        result = self.result
        result.events_evaluated += 1
        if event.order_id in self.matched_orders:
            return
        if event.order_id not in orders:
            orders[event.order_id] = Order.objects.filter(order_id=event.order_id).first()
        view = _view_from_json(event.order_view or {})
        signals = signals_compute(
            SignalInputs.of(event, view, orders[event.order_id]), ofac=ofac, names=names
        )
        evaluation = condition.evaluate(signals)
        if not evaluation.matched:
            return
        self.matched_orders.add(event.order_id)
        self.newly_matched.append(event.order_id)
        result.orders_matched = len(self.matched_orders)
        value = signals["order_value"]
        if value is not None:
            result.total_value += Decimal(value)
        if len(result.sample) < SAMPLE_SIZE:
            result.sample.append(
                {
                    "order_id": event.order_id,
                    "event": event.pk,
                    "received_at": event.received_at.isoformat(),
                    "order_value": str(value) if value is not None else None,
                    "reasons": reasons_for(Match(self.block, evaluation)),
                    "signals": signals_for_json(evaluation.values),
                }
            )


def block_backtest(
    *, block: Block, since: datetime | None = None, until: datetime | None = None
) -> BacktestResult:
    """Evaluate `block` (whatever its status) against processed events received in
    [since, until), here and in one go. Each order counts once, at its first matching event."""
    scan = BacktestScan.start(block=block, since=since, until=until)
    scan.run()
    return scan.result


# --- Backtest runs: in the background, in chunks -------------------------------------------------

# A run is a durable job (core.jobs) whose fencing token is its chunk number: a step claims
# chunk n by moving it to n + 1, and saves its work only over a run still at n + 1.
BACKTEST_RUNS = JobTable(
    model=BacktestRun, task=task_names.BACKTEST_RUN_STEP, fence="chunk", queued=None
)
# A step is one django-q2 task: it stops after this many events or seconds, well inside the
# cluster's task timeout, saves where it got to and queues the next step. Between steps the
# progress page moves and a cancel takes effect.
BACKTEST_CHUNK_EVENTS = 1000
BACKTEST_CHUNK_SECONDS = 10.0
DEFAULT_PERIOD = timedelta(days=7)


def backtest_period(
    *, since: datetime | None, until: datetime | None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """A run's period: up to now unless `until` is given, over the 7 days before `until`
    unless `since` is given."""
    until = until or now or timezone.now()
    return since or until - DEFAULT_PERIOD, until


def backtest_run_start(
    *,
    block: Block,
    since: datetime | None = None,
    until: datetime | None = None,
    actor=None,
    queue: bool = True,
) -> BacktestRun:
    """Start a backtest of `block` as it is now over [since, until) (see backtest_period).
    Queued on the cluster once the transaction commits; with `queue=False` the caller works
    it (see backtest_run_work)."""
    since, until = backtest_period(since=since, until=until)
    scan = BacktestScan.start(block=block, since=since, until=until)
    run = BacktestRun.objects.create(
        block=block,
        block_version=block.version,
        condition=block.condition,
        action=block.action,
        event_types=list(block.event_types or []),
        since=since,
        until=until,
        result=scan.result.as_json(),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    if queue:
        transaction.on_commit(lambda: backtest_run_enqueue(run), robust=True)
    return run


def backtest_run_enqueue(run: BacktestRun) -> None:
    BACKTEST_RUNS.enqueue(str(run.pk), run.chunk)


_LIVE = (BacktestStatus.QUEUED, BacktestStatus.RUNNING)


def backtest_run_step(
    run_id: str, chunk: int, seconds: float = BACKTEST_CHUNK_SECONDS, requeue: bool = True
) -> bool:
    """Work through one chunk of a run, then queue the next unless `requeue` is False. True
    when this call worked the chunk. Safe to run twice: a redelivered task finds its chunk
    already claimed, and a cancelled run is never claimed."""
    started = time.monotonic()
    # The claim: of two workers handed the same chunk (a redelivered task, or an API request
    # working its own run while the cluster has it too), the one whose update matched works it.
    if not BACKTEST_RUNS.claim_one(
        run_id,
        chunk,
        where=BacktestRun.objects.filter(status__in=_LIVE),
        status=BacktestStatus.RUNNING,
        updated_at=timezone.now(),
    ):
        return False
    run = BacktestRun.objects.select_related("block").get(pk=run_id)
    try:
        scan = BacktestScan.of_run(run)
        if run.total is None:
            run.total = scan.events().count()
        scan.run(max_events=BACKTEST_CHUNK_EVENTS, deadline=started + seconds)
        run.done = scan.result.events_evaluated
        run.result, run.state = scan.result.as_json(), scan.state_json()
        run.cursor_received_at, run.cursor_event_id = scan.cursor or (None, "")
        if scan.finished:
            run.status, run.finished_at = BacktestStatus.DONE, timezone.now()
            # Events that finished processing after the count are in the period too.
            run.total = max(run.total, run.done)
    except Exception as error:
        logger.exception("backtest run %s failed", run_id)
        run.status, run.finished_at = BacktestStatus.FAILED, timezone.now()
        run.error = f"{type(error).__name__}: {error}"[:2000]
    # A cancel that landed while this chunk ran wins: the chunk is saved only over a run that
    # is still running, so a cancelled run stays cancelled and is not queued again.
    saved = (
        BACKTEST_RUNS.fenced(run_id, chunk + 1)
        .filter(status=BacktestStatus.RUNNING)
        .update(
            total=run.total,
            done=run.done,
            result=run.result,
            state=run.state,
            cursor_received_at=run.cursor_received_at,
            cursor_event_id=run.cursor_event_id,
            status=run.status,
            finished_at=run.finished_at,
            error=run.error,
            updated_at=timezone.now(),
        )
    )
    if saved and run.status == BacktestStatus.RUNNING and requeue:
        backtest_run_enqueue(run)
    return True


def backtest_run_work(*, run: BacktestRun, seconds: float) -> BacktestRun:
    """Work a run's chunks in this process for up to about `seconds`, then leave what is left
    to the cluster; answers the run as it then stands. Working it here rather than waiting on
    the queue answers a short backtest at once, even when the cluster is busy with events."""
    deadline = time.monotonic() + seconds
    while not run.finished and time.monotonic() < deadline:
        remaining = deadline - time.monotonic()
        if not backtest_run_step(str(run.pk), run.chunk, seconds=remaining, requeue=False):
            time.sleep(min(0.2, remaining))  # another worker has this chunk
        run.refresh_from_db()
    if not run.finished:
        transaction.on_commit(lambda: backtest_run_enqueue(run), robust=True)
    return run


def backtest_run_cancel(*, run: BacktestRun) -> bool:
    """Stop a run between chunks. False when it had already finished. The result keeps what
    the chunks saved before the cancel; a chunk being worked meanwhile is dropped."""
    now = timezone.now()
    cancelled = BacktestRun.objects.filter(pk=run.pk, status__in=_LIVE).update(
        status=BacktestStatus.CANCELLED, finished_at=now, updated_at=now
    )
    run.refresh_from_db()
    return bool(cancelled)
