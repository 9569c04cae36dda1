"""Replay: run processing again on stored events. Processing is idempotent, so a replay re-derives
the order view and decisions without creating a second hold or notification."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from core.audit import audit_record
from webhooks.models import AuditAction, Event, EventStatus
from webhooks.processing import event_enqueue, event_process


def _rearm(event_id: str) -> bool:
    """Make a stored event due again. An event being processed right now is left alone."""
    return bool(
        Event.objects.filter(pk=event_id)
        .exclude(status=EventStatus.PROCESSING)
        .update(status=EventStatus.PENDING, attempts=0, next_attempt_at=None, claimed_at=None)
    )


def event_replay(*, event: Event, actor=None, reason: str = "") -> bool:
    """Queue one event for processing again. False when it is being processed right now."""
    with transaction.atomic():
        rearmed = _rearm(event.pk)
        if rearmed:
            audit_record(
                action=AuditAction.EVENT_REPLAYED,
                obj_type="event",
                obj_id=event.pk,
                order_id=event.order_id,
                actor=actor,
                reason=reason,
                before={"status": event.status},
            )
            transaction.on_commit(lambda: event_enqueue(event.pk, trigger="replay"), robust=True)
    return rearmed


@dataclass
class ReplaySummary:
    total: int = 0
    processed: int = 0
    failed: int = 0
    skipped: int = 0

    def as_json(self) -> dict:
        return dict(vars(self))


def events_replay_now(
    *,
    events: QuerySet[Event],
    actor=None,
    description: str = "",
    progress: Callable[[ReplaySummary], None] | None = None,
) -> ReplaySummary:
    """Replay every event of `events` in this process, one at a time, reporting progress.
    Audited once for the whole run, with the filter that chose the events."""
    ids: Iterable[str] = events.order_by("received_at").values_list("pk", flat=True)
    summary = ReplaySummary(total=events.count())
    audit_record(
        action=AuditAction.EVENT_REPLAYED,
        obj_type="event",
        obj_id="(bulk)",
        actor=actor,
        reason=description,
        after={"events": summary.total},
    )
    for event_id in ids.iterator(chunk_size=500):
        outcome = event_replay_here(event_id)
        setattr(summary, outcome, getattr(summary, outcome) + 1)
        if progress:
            progress(summary)
    return summary


def event_replay_here(event_id: str) -> str:
    """Rearm and process one event here and now: "processed", "failed" or "skipped"."""
    if not _rearm(event_id):
        return "skipped"
    status = event_process(event_id=event_id, trigger="replay")
    if status == EventStatus.PROCESSED:
        return "processed"
    if status is None:
        return "skipped"  # paused endpoint, or claimed elsewhere meanwhile
    return "failed"
