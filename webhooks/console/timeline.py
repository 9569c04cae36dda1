"""An order's story in time order: its events, the blocks' decisions, its holds, the audit
trail and, when the integrations app is installed, what was sent downstream."""

from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from webhooks.models import AuditEntry, Event

MAX_ITEMS = 200


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str
    text: str
    url: str = ""


def _url(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def order_audit_trail(*, order_id: str, hold_ids: list[str]):
    return AuditEntry.objects.filter(
        Q(order_id=order_id) | Q(object_type="hold", object_id__in=hold_ids)
    ).order_by("at", "id")[:MAX_ITEMS]


def order_timeline(*, order_id: str) -> list[Entry]:
    from rules.models import Decision, HeldOrder  # rules builds on webhooks

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
                _url("admin:webhooks_event_change", event.pk),
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
                _url("admin:rules_block_change", decision.block_id),
            )
        )
    holds = list(HeldOrder.objects.filter(order__order_id=order_id))
    for hold in holds:
        url = _url("admin:rules_heldorder_change", hold.pk)
        entries.append(Entry(hold.created_at, "hold", f"held ({hold.pk})", url))
        if hold.decided_at:
            entries.append(Entry(hold.decided_at, "hold", f"{hold.status} ({hold.pk})", url))
    for entry in order_audit_trail(order_id=order_id, hold_ids=[h.pk for h in holds]):
        text = f"{entry.get_action_display()} by {entry.actor_label}"
        if entry.reason:
            text += f": {entry.reason}"
        entries.append(Entry(entry.at, "audit", text))
    entries.extend(_downstream(order_id))
    return sorted(entries, key=lambda item: item.at)


def _downstream(order_id: str) -> list[Entry]:
    try:
        outbound = apps.get_model("integrations", "OutboundDelivery")
    except LookupError:
        return []  # no integrations app (or no outbound model yet): nothing went downstream
    entries = []
    rows = outbound.objects.filter(order_id=order_id).select_related("destination")
    for delivery in rows.order_by("created_at")[:MAX_ITEMS]:
        code = getattr(delivery, "last_status_code", None)
        entries.append(
            Entry(
                delivery.created_at,
                "downstream",
                f"{delivery.event_type} to {delivery.destination}: {delivery.status}"
                + (f", {delivery.attempts} attempt(s)" if getattr(delivery, "attempts", 0) else "")
                + (f", last response {code}" if code else ""),
                _url("admin:integrations_outbounddelivery_change", delivery.pk),
            )
        )
    return entries
