"""Retention: removing old events without losing what holds and the audit trail point at."""

from collections.abc import Callable, Iterable

from django.db import transaction

from core.models import AuditEntry
from webhooks.models import Delivery, Event

BATCH = 1000

# The extension point for apps above webhooks that keep events as evidence: each keeper is
# given candidate event ids and answers those it must keep (rules: events that created a hold).
# Registered from the app's ready().
_KEEPERS: list[Callable[[list[str]], Iterable[str]]] = []


def retention_keeper_register(keeper: Callable[[list[str]], Iterable[str]]) -> None:
    if keeper not in _KEEPERS:
        _KEEPERS.append(keeper)


def _kept_event_ids(candidates) -> set[str]:
    """Events a hold was created by, or that the audit trail names, are evidence: kept."""
    kept = set(
        AuditEntry.objects.filter(object_type="event", object_id__in=candidates).values_list(
            "object_id", flat=True
        )
    )
    for keeper in _KEEPERS:
        kept |= set(keeper(candidates))
    return kept


def events_purge(*, before, dry_run: bool = False) -> dict[str, int]:
    deleted_events = deleted_deliveries = kept = 0
    last_id = ""
    while True:
        batch = list(
            Event.objects.filter(received_at__lt=before, pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        if not batch:
            break
        last_id = batch[-1]
        keep = _kept_event_ids(batch)
        kept += len(keep)
        doomed = [pk for pk in batch if pk not in keep]
        if dry_run:
            deleted_events += len(doomed)
            deleted_deliveries += Delivery.objects.filter(event_id__in=doomed).count()
            continue
        with transaction.atomic():
            deleted_deliveries += Delivery.objects.filter(event_id__in=doomed).delete()[0]
            deleted = Event.objects.filter(pk__in=doomed).delete()[1]
            deleted_events += deleted.get("webhooks.Event", 0)
    refused = Delivery.objects.filter(received_at__lt=before, event__isnull=True)
    if dry_run:
        deleted_deliveries += refused.count()
    else:
        deleted_deliveries += refused.delete()[0]
    return {"events": deleted_events, "deliveries": deleted_deliveries, "kept": kept}
