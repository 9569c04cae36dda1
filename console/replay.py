"""Replay runs: the console's background replays and dry runs of many events, worked through
in chunks by a self-re-enqueueing task, with progress, resume and (dry runs) a preview of the
holds a replay would make."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from console.models import ReplayRun, ReplayStatus
from core import task_names
from core.audit import audit_record
from core.jobs import JobTable
from rules.services import event_evaluate_preview
from webhooks.models import AuditAction, Event
from webhooks.processing import error_text, event_order_view
from webhooks.replay import event_replay_here
from webhooks.selectors import events_for_filters

logger = logging.getLogger(__name__)


# A run is a durable job (core.jobs) whose fencing token is its chunk number: a step claims
# chunk n by moving it to n + 1, and saves its progress only over a run still at n + 1.
REPLAY_RUNS = JobTable(model=ReplayRun, task=task_names.REPLAY_RUN_STEP, fence="chunk", queued=None)
# A step is one django-q2 task: it stops after this many events or seconds, well inside the
# cluster's task timeout, saves where it got to and queues the next step.
REPLAY_CHUNK_EVENTS = 200
REPLAY_CHUNK_SECONDS = 15.0
DRY_RUN_SAMPLE = 100
MAX_SELECTION = 10_000


def replay_run_start(
    *,
    actor=None,
    dry_run: bool = False,
    event_ids: list[str] | None = None,
    filters: dict | None = None,
    description: str = "",
) -> ReplayRun:
    """Start a replay (or a dry run) of chosen events, or of every event matching `filters`
    (see webhooks.selectors.events_for_filters), in the background. Real replays are
    audited when started, with the filter or the selection."""
    if event_ids is not None and len(event_ids) > MAX_SELECTION:
        raise ValueError(f"at most {MAX_SELECTION} events can be replayed by selection")
    with transaction.atomic():
        run = ReplayRun.objects.create(
            created_by=actor if getattr(actor, "pk", None) else None,
            dry_run=dry_run,
            event_ids=list(event_ids) if event_ids is not None else None,
            filters=filters or {},
            description=description[:500],
            total=len(event_ids) if event_ids is not None else None,
        )
        if not dry_run:
            audit_record(
                action=AuditAction.EVENT_REPLAYED,
                obj_type="replay_run",
                obj_id=str(run.pk),
                actor=actor,
                reason=description,
                after={
                    "filters": run.filters,
                    "events": len(event_ids) if event_ids is not None else None,
                },
            )
        transaction.on_commit(lambda: replay_run_enqueue(run), robust=True)
    return run


def replay_run_enqueue(run: ReplayRun) -> None:
    REPLAY_RUNS.enqueue(str(run.pk), run.chunk)


def _run_events(run: ReplayRun) -> QuerySet[Event]:
    if run.event_ids is not None:
        return Event.objects.filter(pk__in=run.event_ids)
    return events_for_filters(run.filters)


def replay_run_step(run_id: str, chunk: int) -> None:
    """Work through one chunk of a replay run, then queue the next. Safe to run twice: a
    redelivered task finds its chunk already claimed and does nothing."""
    started = time.monotonic()
    if not REPLAY_RUNS.claim_one(
        run_id,
        chunk,
        where=ReplayRun.objects.filter(status__in=[ReplayStatus.QUEUED, ReplayStatus.RUNNING]),
        status=ReplayStatus.RUNNING,
        heartbeat_at=timezone.now(),
    ):
        return
    run = ReplayRun.objects.get(pk=run_id)
    try:
        events = _run_events(run)
        if run.total is None:
            run.total = events.count()
        page = events.order_by("received_at", "pk")
        if run.cursor_received_at is not None:
            page = page.filter(
                Q(received_at__gt=run.cursor_received_at)
                | Q(received_at=run.cursor_received_at, pk__gt=run.cursor_event_id)
            )
        batch = list(page.values_list("pk", "received_at")[:REPLAY_CHUNK_EVENTS])
        worked = 0
        for event_id, received_at in batch:
            if run.dry_run:
                _preview_into(run, event_id)
            else:
                outcome = event_replay_here(event_id)
                setattr(run, outcome, getattr(run, outcome) + 1)
            run.done += 1
            run.cursor_received_at, run.cursor_event_id = received_at, event_id
            worked += 1
            if time.monotonic() - started > REPLAY_CHUNK_SECONDS:
                break
        finished = worked == len(batch) and len(batch) < REPLAY_CHUNK_EVENTS
        if finished:
            run.status, run.finished_at = ReplayStatus.DONE, timezone.now()
            run.total = max(run.total or 0, run.done)
    except Exception as error:
        logger.exception("replay run %s failed", run_id)
        run.status, run.finished_at = ReplayStatus.FAILED, timezone.now()
        run.error = f"{type(error).__name__}: {error}"[:2000]
        finished = True
    run.heartbeat_at = timezone.now()
    # Fenced: a step resumed meanwhile (replay_run_resume) owns the run now, and this one's
    # progress is not written over it.
    saved = REPLAY_RUNS.fenced(run_id, chunk + 1).update(
        **{name: getattr(run, name) for name in _PROGRESS_FIELDS}
    )
    if saved and not finished:
        replay_run_enqueue(run)


_PROGRESS_FIELDS = (
    "total",
    "done",
    "processed",
    "failed",
    "skipped",
    "would_hold",
    "result",
    "cursor_received_at",
    "cursor_event_id",
    "status",
    "finished_at",
    "heartbeat_at",
    "error",
)


def _preview_into(run: ReplayRun, event_id: str) -> None:
    """Dry run of one event: what a replay would hold, without writing anything. An event
    that would fail is counted and, up to DRY_RUN_SAMPLE, listed with its error and whether it
    failed to parse (`stage`: "parse") or in the rules ("evaluate")."""
    event = Event.objects.select_related("endpoint").get(pk=event_id)
    stage = "parse"
    try:
        view = event_order_view(event)
        stage = "evaluate"
        hold = event_evaluate_preview(event=event, order_view=view)
    except Exception as error:
        run.failed += 1
        if stage == "parse":
            run.result["parse_failed"] = run.result.get("parse_failed", 0) + 1
        run.result.setdefault("errors", [])
        if len(run.result["errors"]) < DRY_RUN_SAMPLE:
            run.result["errors"].append(
                {"event": event_id, "stage": stage, "error": error_text(error)[:500]}
            )
        return
    run.processed += 1
    if hold:
        run.would_hold += 1
        run.result.setdefault("holds", [])
        if len(run.result["holds"]) < DRY_RUN_SAMPLE:
            run.result["holds"].append(hold)


class ReplayError(Exception):
    """A replay that cannot be started as asked."""


def replay_run_from_dry_run(*, dry_run: ReplayRun, actor=None) -> ReplayRun:
    """Replay for real what a finished dry run looked at: the same selection, or the same
    filter up to when the dry run started (events received since are not among those it
    showed)."""
    if not dry_run.dry_run or dry_run.status != ReplayStatus.DONE:
        raise ReplayError("only a finished dry run can be replayed")
    if dry_run.event_ids is not None:
        return replay_run_start(
            actor=actor,
            event_ids=dry_run.event_ids,
            description=dry_run.description or f"{len(dry_run.event_ids)} selected events",
        )
    filters = dict(dry_run.filters)
    filters.setdefault("until", dry_run.created_at.isoformat())
    return replay_run_start(
        actor=actor,
        filters=filters,
        description=f"{dry_run.description or 'events'} (as in the dry run of "
        f"{timezone.localtime(dry_run.created_at):%Y-%m-%d %H:%M:%S})",
    )


def replay_run_resume(*, run: ReplayRun) -> bool:
    """Queue a stalled run's next step again (its worker died). False when it is not stalled."""
    stale = timezone.now() - timedelta(seconds=settings.Q_CLUSTER["retry"])
    if run.finished or (run.heartbeat_at and run.heartbeat_at > stale):
        return False
    replay_run_enqueue(run)
    return True
