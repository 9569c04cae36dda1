"""An order's story in time order: its events, the blocks' decisions, its holds, the audit
trail and what registered sources add (integrations: what was sent downstream); who held an
order, and whether its amount moved on after the hold."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from core.models import AuditEntry
from rules.models import BlockAction, Decision, HeldOrder, HoldSource
from webhooks.models import Event

MAX_ITEMS = 200


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str
    text: str
    url: str = ""


# The extension point for apps above rules: each registered source adds its own entries for an
# order (integrations: what was sent downstream). Registered from the app's ready().
_SOURCES: list[Callable[[str], list[Entry]]] = []


def timeline_source_register(source: Callable[[str], list[Entry]]) -> None:
    if source not in _SOURCES:
        _SOURCES.append(source)


def timeline_url(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def order_audit_trail(*, order_id: str, hold_ids: list[str]):
    return AuditEntry.objects.filter(
        Q(order_id=order_id) | Q(object_type="hold", object_id__in=hold_ids)
    ).order_by("at", "id")[:MAX_ITEMS]


def hold_held_by(hold: HeldOrder) -> str:
    """Who held the order, in words. An upstream hold names the sender's block, never a local
    one, whatever local blocks decided about the same event."""
    if hold.source == HoldSource.UPSTREAM:
        # The reason recorded when the hold was made says who held it upstream.
        return hold.reasons[0] if hold.reasons else f"held upstream ({hold.upstream_block_id})"
    if hold.block_id:
        return f"held by {hold.block.name} v{hold.block_version}"
    return "held"


def _decision_text(decision: Decision, hold_of_event: dict[str, HeldOrder]) -> str:
    """What a block decided and what came of it: only the hold block whose hold this event
    made is said to have held the order."""
    text = f"{decision.block.name} v{decision.block_version}: {decision.action}"
    if decision.shadow:
        return text + " (shadow, not acted on)"
    if decision.action == BlockAction.FLAG:
        return text + " (flagged only, does not hold)"
    if decision.action != BlockAction.HOLD:
        return text
    hold = hold_of_event.get(decision.event_id)
    if hold is not None and hold.block_id == decision.block_id:
        return text + f" (held the order: {hold.pk})"
    if hold is not None and hold.source == HoldSource.UPSTREAM:
        return text + f" (matched, not acted on: the order was {hold_held_by(hold)})"
    return text + " (matched, not acted on)"


def order_timeline(*, order_id: str) -> list[Entry]:
    entries: list[Entry] = []
    events = list(
        Event.objects.filter(order_id=order_id)
        .select_related("endpoint")
        .order_by("received_at")[:MAX_ITEMS]
    )
    for event in events:
        entries.append(
            Entry(
                event.received_at,
                "event",
                f"{event.event_type} received on {event.endpoint.slug} ({event.status})",
                timeline_url("admin:webhooks_event_change", event.pk),
            )
        )
    holds = list(HeldOrder.objects.filter(order__order_id=order_id).select_related("block"))
    hold_of_event = {hold.event_id: hold for hold in holds}
    decisions = Decision.objects.filter(event__in=[e.pk for e in events]).select_related("block")
    for decision in decisions[:MAX_ITEMS]:
        entries.append(
            Entry(
                decision.created_at,
                "decision",
                _decision_text(decision, hold_of_event),
                timeline_url("admin:rules_block_change", decision.block_id),
            )
        )
    for hold in holds:
        url = timeline_url("admin:rules_heldorder_change", hold.pk)
        entries.append(Entry(hold.created_at, "hold", f"{hold_held_by(hold)}: {hold.pk}", url))
        if hold.decided_at:
            entries.append(Entry(hold.decided_at, "hold", f"{hold.status} ({hold.pk})", url))
    for entry in order_audit_trail(order_id=order_id, hold_ids=[h.pk for h in holds]):
        text = f"{entry.get_action_display()} by {entry.actor_label}"
        if entry.reason:
            text += f": {entry.reason}"
        entries.append(Entry(entry.at, "audit", text))
    for source in _SOURCES:
        entries.extend(source(order_id))
    return sorted(entries, key=lambda item: item.at)


@dataclass(frozen=True)
class AmountChange:
    """The order's amount moved on after it was held: `was` is the amount at hold time, `now`
    the order's; `event` is the later event carrying the current amount, if one was found."""

    was: Decimal | None
    now: Decimal
    currency: str
    event: Event | None


def _view_amount(event: Event) -> Decimal | None:
    amount = (event.order_view or {}).get("amount")
    try:
        return Decimal(str(amount)) if amount is not None else None
    except InvalidOperation:
        return None


def hold_amount_change(hold: HeldOrder) -> AmountChange | None:
    """None while the order's amount is still the one it was held at. Otherwise the change,
    with the newest of the order's events after the hold's own that carries the new amount
    (order views keep their amount as a string, see OrderView.as_json)."""
    order = hold.order
    if order.amount is None or order.amount == hold.amount:
        return None
    later = (
        Event.objects.filter(order_id=order.order_id, received_at__gte=hold.event.received_at)
        .exclude(pk=hold.event_id)
        .only("id", "received_at", "order_view")
        .order_by("-received_at", "-id")[:MAX_ITEMS]
    )
    changed_by = next((event for event in later if _view_amount(event) == order.amount), None)
    return AmountChange(hold.amount, order.amount, order.currency or hold.currency, changed_by)
