"""Re-check the open queue: what a change to a block would do to the holds it made and to
recent clear orders, before the change is saved or after it was. Changes nothing.

Every order is decided the way processing decides it (rules.services.event_decision_preview:
the same signals, blocks_evaluate and hold_decide) with the live blocks, the block under
re-check replaced by its candidate: its saved self, or an unsaved `condition` and/or
`status`. A candidate that is a draft or disabled is left out, as processing leaves it out;
a shadow candidate is evaluated and never holds.

- An open hold the block made is **no longer matching** when, with the candidate, nothing
  would hold its order any more: no event of the order would be held. A hold belongs to the
  block that made it, but releasing it is a decision about the order: when another live
  block (or an upstream hold) would still hold the order, the hold is listed under
  `held_by_other_blocks` instead, and is not offered for release.
- A recent clear order is **newly matching** when, with the candidate, one of its events
  would be held by this block. Recent: an order with a processed event received in the last
  RECENT_DAYS days; clear: the order has never been held (an order a reviewer decided is not
  held again by later events, so only those can newly match).

Bounded: at most MAX_HOLDS open holds (oldest first, the queue's order), MAX_ORDERS recent
clear orders (most recently active first) and MAX_EVENTS_PER_ORDER events of each order are
examined; the answer says when a bound was reached (`truncated`)."""

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from rules.evaluation import blocks_live
from rules.models import Block, BlockStatus, HeldOrder, HoldStatus, Order
from rules.services import RuleError, block_values_clean, event_decision_preview
from webhooks.models import Event, EventStatus
from webhooks.processing import event_order_view

RECENT_DAYS = 7
MAX_HOLDS = 500
MAX_ORDERS = 500
MAX_EVENTS_PER_ORDER = 20
# Recent events are read newest first in pages of this many, until MAX_ORDERS clear orders
# are found, the window ends, or SCAN_PAGES pages were read.
SCAN_PAGE = 2000
SCAN_PAGES = 25
# Orders decided per batch: one query each for their events, their rows and their holds.
ORDER_BATCH = 100

RECHECK_FIELDS = ("condition", "status")
_EVALUATED = (BlockStatus.ACTIVE, BlockStatus.SHADOW)


@dataclass
class RecheckResult:
    block_id: str
    condition: str
    status: str
    recent_since: datetime
    no_longer_matching: list[str] = field(default_factory=list)
    newly_matching: list[str] = field(default_factory=list)
    held_by_other_blocks: list[str] = field(default_factory=list)
    holds_open: int = 0
    holds_examined: int = 0
    orders_examined: int = 0
    holds_capped: bool = False
    orders_capped: bool = False

    @property
    def truncated(self) -> bool:
        return self.holds_capped or self.orders_capped

    def as_json(self) -> dict:
        return {
            "no_longer_matching": self.no_longer_matching,
            "newly_matching": self.newly_matching,
            "held_by_other_blocks": self.held_by_other_blocks,
            "block_id": self.block_id,
            "condition": self.condition,
            "status": self.status,
            "holds": {
                "open": self.holds_open,
                "examined": self.holds_examined,
                "capped": self.holds_capped,
            },
            "orders": {
                "since": self.recent_since.isoformat(),
                "examined": self.orders_examined,
                "capped": self.orders_capped,
            },
            "truncated": self.truncated,
        }


def block_candidate(*, block: Block, changes: dict) -> Block:
    """The block as `changes` ({"condition", "status"}, both optional) would make it, unsaved;
    RuleError naming the field at fault, as a save would refuse it."""
    unknown = set(changes) - set(RECHECK_FIELDS)
    if unknown:
        raise RuleError(f"unknown fields: {', '.join(sorted(unknown))}")
    clean = block_values_clean(changes)
    candidate = copy.copy(block)
    for name, value in clean.items():
        setattr(candidate, name, value)
    return candidate


def blocks_with(candidate: Block) -> list[Block]:
    """The live blocks, with the candidate in place of its saved self (left out when it is
    not evaluated), in the order processing evaluates them."""
    blocks = [b for b in blocks_live() if b.pk != candidate.pk]
    if candidate.status in _EVALUATED:
        blocks.append(candidate)
    return sorted(blocks, key=lambda b: (b.priority, b.created_at))


def block_recheck(
    *,
    block: Block,
    changes: dict | None = None,
    now: datetime | None = None,
    max_holds: int = MAX_HOLDS,
    max_orders: int = MAX_ORDERS,
) -> RecheckResult:
    """Re-check the block's open holds and the recent clear orders against the block as
    `changes` would make it (as saved when there are none). See the module's docstring."""
    candidate = block_candidate(block=block, changes=changes or {})
    now = now or timezone.now()
    result = RecheckResult(
        block_id=block.block_id,
        condition=candidate.condition,
        status=candidate.status,
        recent_since=now - timedelta(days=RECENT_DAYS),
    )
    decide = _Decider(candidate=candidate, blocks=blocks_with(candidate))
    _holds_recheck(result, decide, block=block, limit=max_holds)
    _clear_orders_recheck(result, decide, limit=max_orders)
    return result


def _holds_recheck(result: RecheckResult, decide: "_Decider", *, block: Block, limit: int):
    held = HeldOrder.objects.filter(block=block, status=HoldStatus.HELD)
    holds = list(held.select_related("order").order_by("created_at", "pk")[: limit + 1])
    result.holds_capped = len(holds) > limit
    holds = holds[:limit]
    result.holds_open = held.count() if result.holds_capped else len(holds)
    result.holds_examined = len(holds)
    for start in range(0, len(holds), ORDER_BATCH):
        batch = holds[start : start + ORDER_BATCH]
        holder = decide.holders({hold.order.order_id: hold for hold in batch})
        for hold in batch:
            by = holder.get(hold.order.order_id)
            if by is None:
                result.no_longer_matching.append(hold.pk)
            elif by != _CANDIDATE:
                result.held_by_other_blocks.append(hold.pk)


def _clear_orders_recheck(result: RecheckResult, decide: "_Decider", *, limit: int):
    clear, capped = _recent_clear_orders(since=result.recent_since, limit=limit)
    result.orders_capped = capped
    result.orders_examined = len(clear)
    for start in range(0, len(clear), ORDER_BATCH):
        batch = clear[start : start + ORDER_BATCH]
        holder = decide.holders(dict.fromkeys(batch))
        result.newly_matching += [oid for oid in batch if holder.get(oid) == _CANDIDATE]


def _recent_clear_orders(*, since: datetime, limit: int) -> tuple[list[str], bool]:
    """Up to `limit` ids of never-held orders with a processed event received since `since`,
    most recently active first, read newest first from the (status, -received_at) index;
    and whether more were left."""
    events = (
        Event.objects.filter(status=EventStatus.PROCESSED, received_at__gte=since)
        .exclude(order_id="")
        .order_by("-received_at", "-pk")
        .values_list("order_id", flat=True)
    )
    seen: set[str] = set()
    clear: list[str] = []
    for page in range(SCAN_PAGES):
        order_ids = list(events[page * SCAN_PAGE : (page + 1) * SCAN_PAGE])
        fresh = [oid for oid in dict.fromkeys(order_ids) if oid not in seen]
        seen.update(fresh)
        held = set(
            HeldOrder.objects.filter(order__order_id__in=fresh).values_list(
                "order__order_id", flat=True
            )
        )
        for oid in fresh:
            if oid not in held:
                if len(clear) == limit:
                    return clear, True
                clear.append(oid)
        if len(order_ids) < SCAN_PAGE:
            return clear, False
    return clear, True


_CANDIDATE = "candidate"
_OTHER = "other"


@dataclass
class _Decider:
    """Decides batches of orders with the candidate in place, one query each for the
    orders' events, rows and holds."""

    candidate: Block
    blocks: list[Block]

    def holders(self, orders: dict[str, HeldOrder | None]) -> dict[str, str]:
        """Order id -> who would hold it (_CANDIDATE or _OTHER), for the orders something
        would hold. `orders` maps each order id to the open hold under re-check, which is
        left out of the order's holds (the question is whether the order would be held
        without it), or to None."""
        ids = list(orders)
        rows = Order.objects.in_bulk(ids, field_name="order_id")
        holds: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for order_id, event_id, status, pk in HeldOrder.objects.filter(
            order__order_id__in=ids
        ).values_list("order__order_id", "event_id", "status", "pk"):
            examined = orders.get(order_id)
            if examined is None or examined.pk != pk:
                holds[order_id].append((event_id, status))
        holder: dict[str, str] = {}
        for event in _first_events(ids):
            if event.order_id in holder:
                continue
            decision = event_decision_preview(
                event=event,
                order_view=event_order_view(event),
                order=rows.get(event.order_id),
                blocks=self.blocks,
                holds_of=lambda oid=event.order_id: holds[oid],
            )
            if decision is not None:
                mine = decision.match is not None and decision.match.block.pk == self.candidate.pk
                holder[event.order_id] = _CANDIDATE if mine else _OTHER
        return holder


def _first_events(order_ids: list[str]):
    """The first MAX_EVENTS_PER_ORDER processed events of each order, in the order
    processing met them (by order, then receipt)."""
    first = Window(
        RowNumber(), partition_by=[F("order_id")], order_by=[F("received_at").asc(), F("pk").asc()]
    )
    return (
        Event.objects.filter(order_id__in=order_ids, status=EventStatus.PROCESSED)
        .select_related("endpoint")
        .annotate(n=first)
        .filter(n__lte=MAX_EVENTS_PER_ORDER)
        .order_by("order_id", "received_at", "pk")
        .iterator(chunk_size=500)
    )
