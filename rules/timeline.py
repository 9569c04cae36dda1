"""An order's story in time order: its events, the blocks' decisions, its holds, the audit
trail and what registered sources add (integrations: what was sent downstream)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from core.models import AuditEntry
from rules.models import Decision, HeldOrder
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
    decisions = Decision.objects.filter(event__in=[e.pk for e in events]).select_related("block")
    for decision in decisions[:MAX_ITEMS]:
        entries.append(
            Entry(
                decision.created_at,
                "decision",
                f"{decision.block.name} v{decision.block_version}: {decision.action}"
                + (" (shadow, not acted on)" if decision.shadow else ""),
                timeline_url("admin:rules_block_change", decision.block_id),
            )
        )
    holds = list(HeldOrder.objects.filter(order__order_id=order_id))
    for hold in holds:
        url = timeline_url("admin:rules_heldorder_change", hold.pk)
        entries.append(Entry(hold.created_at, "hold", f"held ({hold.pk})", url))
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
