"""The processing pipeline: enqueue, claim, process, retry with backoff, dead, sweep.

Delivery to the worker is at-least-once (brokers redeliver, the sweep re-enqueues), so
processing is made exactly-once in effect here: a conditional claim decides which run
processes an event, and the run's writes commit only if its claim is still the current one."""

import functools
import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Subquery
from django.utils import timezone
from django.utils.module_loading import import_string

from core import plain_sql, queue, task_names
from core.caching import cache_generations_once
from core.jobs import Backoff, JobTable, WakeUps
from webhooks.models import AttemptOutcome, EndpointState, Event, EventStatus, ProcessingAttempt
from webhooks.providers import OrderView, get_scheme

logger = logging.getLogger(__name__)

# Events are durable jobs (core.jobs): the attempt number fences each claim, and the sweep
# marks `requeued_at` when it queues one.
EVENTS = JobTable(model=Event, task=task_names.PROCESS_EVENT, queued="requeued_at")
# How long a queued wake-up stands for its endpoint's new events (core.jobs.WakeUps).
WAKE_SECONDS = 5
ENDPOINT_WAKEUPS = WakeUps(name="wake", task=task_names.PROCESS_ENDPOINT, seconds=WAKE_SECONDS)
SWEEP_SCHEDULE_NAME = "hookdesk: sweep events"
MAX_ERROR_LENGTH = 2000


class ClaimLost(Exception):
    """Our claim on the event was taken over (the sweep judged us dead); nothing is written."""


@functools.cache
def event_consumers() -> tuple:
    """The functions that act on a processed event, from HOOKDESK["EVENT_CONSUMERS"].

    Each is called as `consumer(event=..., order_view=...)` inside the processing transaction:
    if one raises, nothing any of them wrote is kept and the event is retried."""
    return tuple(import_string(path) for path in settings.HOOKDESK["EVENT_CONSUMERS"])


def event_enqueue(event_id: str, *, trigger: str, endpoint_id: int | None = None) -> bool:
    """Make sure a worker will process a stored event. A failed enqueue is logged, not
    raised: the event is already stored and the sweep will queue it.

    Given the event's endpoint and a Redis broker, the receiver's events are coalesced into
    wake-ups of their endpoint (endpoint_wake); otherwise the event gets a task of its own."""
    if endpoint_id is not None and wake_store() is not None:
        return endpoint_wake(endpoint_id)
    return EVENTS.enqueue(event_id, trigger)


def events_enqueue(event_ids, *, trigger: str) -> int:
    return sum(event_enqueue(event_id, trigger=trigger) for event_id in event_ids)


def wake_store():
    """Where queued wake-ups are marked: the broker's Redis, or None with the database broker
    (each event then gets a task of its own)."""
    return queue.redis_store()


def endpoint_wake(endpoint_id: int) -> bool:
    """Queue a run over the endpoint's pending events, unless one is queued and has not
    started yet: a run looks for pending events when it starts, so it will find the new ones.

    Under a backlog one queued task then stands for many events, and the queue stops costing a
    task per event."""
    return ENDPOINT_WAKEUPS.wake(endpoint_id)


_ACTIVE = Q(endpoint__state=EndpointState.ACTIVE)


def _due(now) -> Q:
    """Pending, or failed with its retry time come."""
    return Q(status=EventStatus.PENDING) | Q(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), status=EventStatus.FAILED
    )


def _pending_of_endpoint(endpoint_id):
    """An endpoint's pending events, oldest first, skipping rows another run is claiming."""
    return (
        Event.objects.filter(_ACTIVE, endpoint_id=endpoint_id, status=EventStatus.PENDING)
        .order_by("received_at")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", flat=True)
    )


def _claim(event_id: str, now, *, extra: int = 0) -> list[Event]:
    """Take the named event for this run, and up to `extra` other pending events of its
    endpoint, oldest first; return what was taken, oldest first.

    The named event is taken when it is due. Nothing is taken for a paused endpoint, and a row
    another run has locked is skipped rather than waited for: that run is claiming it. The claim
    commits on its own, so a worker that dies mid-batch leaves its events `processing` until
    the sweep judges the claim stale."""
    if _status_of(event_id) not in (EventStatus.PENDING, EventStatus.FAILED):
        return []  # done or taken: under a backlog most tasks end here, so this stays cheap
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        ids = list(
            Event.objects.filter(_due(now), _ACTIVE, pk=event_id)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)
        )
        # Only a run that got its own event takes more: the tasks of events another run
        # already took then cost one query, and the runs of a backlog take turns.
        if ids and extra > 0:
            endpoint = Event.objects.filter(pk=event_id).values("endpoint_id")
            ids += _pending_of_endpoint(Subquery(endpoint)).exclude(pk=event_id)[:extra]
        _take(ids, now)
    return _claimed(ids)


def _claim_of_endpoint(endpoint_id: int, now, *, limit: int) -> list[Event]:
    """Take up to `limit` pending events of an endpoint, oldest first (see _claim)."""
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        ids = list(_pending_of_endpoint(endpoint_id)[:limit])
        _take(ids, now)
    return _claimed(ids)


def _take(ids: list[str], now) -> None:
    if ids:
        EVENTS.claim(
            Event.objects.filter(_due(now), pk__in=ids),
            status=EventStatus.PROCESSING,
            claimed_at=now,
        )


def _claimed(ids: list[str]) -> list[Event]:
    if not ids:
        return []
    return list(Event.objects.select_related("endpoint").filter(pk__in=ids).order_by("received_at"))


def _status_of(event_id: str) -> str | None:
    with connection.cursor() as cursor:
        table = plain_sql.table(Event)
        cursor.execute(f"SELECT status FROM {table} WHERE id = %s", [event_id])  # noqa: S608
        row = cursor.fetchone()
    return row[0] if row else None


def _commit_without_waiting_for_disk() -> None:
    """Let this transaction commit without waiting for the WAL flush (PostgreSQL).

    Only for the claim: if the database crashes right after, the claim is lost, which costs an
    attempt count and nothing else (the event is still pending or failed, and the sweep queues
    it). The processing transaction that follows commits durably as usual."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def event_order_view(event: Event) -> OrderView:
    scheme = get_scheme(event.endpoint.provider)
    envelope = scheme.parse(body=bytes(event.body), headers=event.headers)
    return scheme.order_view(envelope)


def event_process(*, event_id: str, trigger: str = "queue") -> str | None:
    """Process one event if it is due and nobody else holds it. Returns the event's new
    status, or None when this run did not claim it (already done, not due, paused)."""
    return events_process(event_id=event_id, trigger=trigger, batch=1)


def events_process(
    *, event_id: str, trigger: str = "queue", batch: int | None = None
) -> str | None:
    """Process the event a task names and, in the same run, up to `batch - 1` other pending
    events of its endpoint (HOOKDESK["PROCESSING_BATCH"] by default).

    Under a backlog one task then does the work of many, and the tasks of events already taken
    find nothing to claim and return at once: throughput stops paying the queue's cost, a
    commit and two writes per event. Returns the named event's new status, or None when this
    run did not claim it."""
    batch = batch or settings.HOOKDESK["PROCESSING_BATCH"]
    events = _claim(event_id, timezone.now(), extra=batch - 1)
    triggers = {event.pk: trigger if event.pk == event_id else "queue" for event in events}
    return _process_claimed(events, triggers).get(event_id)


def endpoint_drain(*, endpoint_id: int, batch: int | None = None) -> int:
    """The wake-up task: process up to `batch` pending events of an endpoint, oldest first.
    Returns how many this run processed.

    When it takes a full batch there may be more waiting, so it wakes the endpoint again
    before it starts: another worker takes the next batch meanwhile."""
    batch = batch or settings.HOOKDESK["PROCESSING_BATCH"]
    ENDPOINT_WAKEUPS.clear(
        endpoint_id
    )  # before the claim: an event stored after it wakes a new run
    events = _claim_of_endpoint(endpoint_id, timezone.now(), limit=batch)
    if len(events) == batch:
        endpoint_wake(endpoint_id)
    statuses = _process_claimed(events, dict.fromkeys((event.pk for event in events), "queue"))
    return sum(status == EventStatus.PROCESSED for status in statuses.values())


def _process_claimed(events: list[Event], triggers: dict[str, str]) -> dict[str, str | None]:
    """Run claimed events: together when there are several, and one by one when that fails."""
    statuses = _attempt_together(events, triggers) if len(events) > 1 else None
    if statuses is None:
        statuses = {event.pk: _attempt(event, triggers[event.pk]) for event in events}
    return statuses


def _attempt_together(events: list[Event], triggers: dict[str, str]) -> dict[str, str] | None:
    """Process claimed events in one transaction, with one bulk write of their outcomes.

    All or nothing: when any event fails (or a claim was lost), nothing is kept and None is
    returned, and the caller gives each event an attempt of its own, so a failure is recorded
    against its own event alone and the others still go through."""
    started = timezone.now()
    try:
        with transaction.atomic(), cache_generations_once():
            # Lock the claimed rows: the sweep cannot take them over before this commits.
            held = dict(
                Event.objects.select_for_update()
                .filter(pk__in=[event.pk for event in events], status=EventStatus.PROCESSING)
                .values_list("pk", "attempts")
            )
            if any(held.get(event.pk) != event.attempts for event in events):
                return None
            views = {event.pk: event_consume(event) for event in events}
            now = timezone.now()
            _mark_processed(events, views, now)
            plain_sql.insert_many(
                [_succeeded(event, started, now, triggers[event.pk]) for event in events]
            )
    except Exception:
        logger.info("a batch of %d events failed; each gets its own attempt", len(events))
        return None
    return dict.fromkeys(triggers, EventStatus.PROCESSED)


def _attempt(event: Event, trigger: str) -> str | None:
    """One processing attempt of a claimed event: its consumers and its new status commit
    together, or not at all."""
    started = timezone.now()
    try:
        with transaction.atomic(), cache_generations_once():
            _finish(event, started, trigger, order_view=event_consume(event))
    except ClaimLost:
        logger.warning("event %s: claim lost to another run, its work was discarded", event.pk)
        return None
    except Exception as error:
        logger.exception("event %s: processing attempt %d failed", event.pk, event.attempts)
        return _fail(event, started, trigger, error)
    return EventStatus.PROCESSED


def event_consume(event: Event) -> OrderView:
    """Hand the event and its order view to every consumer; returns the view."""
    order_view = event_order_view(event)
    for consumer in event_consumers():
        consumer(event=event, order_view=order_view)
    return order_view


def _processed_fields(order_view: OrderView, now) -> dict:
    """The columns a successful attempt writes."""
    return {
        "status": EventStatus.PROCESSED,
        "processed_at": now,
        "order_view": order_view.as_json(),
        "order_id": order_view.order_id or "",
        "customer_id": order_view.customer_id or "",
        "last_error": "",
        "claimed_at": None,
        "next_attempt_at": None,
        "updated_at": now,
    }


def _mark_processed(events: list[Event], views: dict[str, OrderView], now) -> None:
    """Write the outcome of a batch (the _processed_fields of each event) in one statement.

    On PostgreSQL this is a single UPDATE … FROM (VALUES …): Django's bulk_update builds a
    CASE per column and event, which cost more than all of the batch's own SQL."""
    rows = {event.pk: _processed_fields(views[event.pk], now) for event in events}
    names = list(next(iter(rows.values())))
    if connection.vendor != "postgresql":
        for event in events:
            for name, value in rows[event.pk].items():
                setattr(event, name, value)
        Event.objects.bulk_update(events, names)
        return
    fields = [Event._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    assignments = ", ".join(
        f"{quote(f.column)} = CAST(v.{quote(f.column)} AS {f.db_type(connection)})" for f in fields
    )
    placeholders = "({})".format(", ".join(["%s"] * (len(fields) + 1)))
    sql = (
        f"UPDATE {Event._meta.db_table} AS e SET {assignments}"  # noqa: S608  names from the model
        f" FROM (VALUES {', '.join([placeholders] * len(events))})"
        f" AS v (id, {', '.join(quote(f.column) for f in fields)}) WHERE e.id = v.id"
    )
    params = [
        value
        for event in events
        for value in (
            event.pk,
            *(f.get_db_prep_save(rows[event.pk][f.name], connection) for f in fields),
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _succeeded(event: Event, started, now, trigger: str) -> ProcessingAttempt:
    return ProcessingAttempt(
        event=event,
        number=event.attempts,
        trigger=trigger,
        started_at=started,
        finished_at=now,
        outcome=AttemptOutcome.SUCCEEDED,
    )


def _finish(event: Event, started, trigger: str, *, order_view: OrderView) -> None:
    now = timezone.now()
    # Fenced by the attempt number: if the sweep re-queued this event and another run
    # claimed it meanwhile, this update matches nothing and the transaction is rolled back.
    updated = (
        EVENTS.fenced(event.pk, event.attempts)
        .filter(status=EventStatus.PROCESSING)
        .update(**_processed_fields(order_view, now))
    )
    if updated != 1:
        raise ClaimLost(event.pk)
    _succeeded(event, started, now, trigger).save(force_insert=True)


# How a recorded error names the field at fault: `EnvelopeError (field 'data'): missing …`.
_FIELD_AT_FAULT = re.compile(r"^\w+ \(field '(?P<field>[^']{1,200})'\): ")


def error_text(error: Exception) -> str:
    """An error as attempts and `Event.last_error` record it, naming the field at fault when
    the error knows one (EnvelopeError.field)."""
    field = getattr(error, "field", None)
    where = f" (field '{field}')" if isinstance(field, str) and "'" not in field else ""
    return f"{type(error).__name__}{where}: {error}"[:MAX_ERROR_LENGTH]


def error_field(text: str) -> str | None:
    """The field a recorded error names (see error_text), or None."""
    match = _FIELD_AT_FAULT.match(text or "")
    return match["field"] if match else None


def _fail(event: Event, started, trigger: str, error: Exception) -> str | None:
    now = timezone.now()
    message = error_text(error)
    delay = processing_backoff().delay(event.attempts)
    if delay is None:
        status, next_attempt_at = EventStatus.DEAD, None
    else:
        status, next_attempt_at = EventStatus.FAILED, now + timedelta(seconds=delay)
    with transaction.atomic():
        updated = (
            EVENTS.fenced(event.pk, event.attempts)
            .filter(status=EventStatus.PROCESSING)
            .update(
                status=status,
                last_error=message,
                claimed_at=None,
                next_attempt_at=next_attempt_at,
            )
        )
        if updated != 1:
            return None
        if next_attempt_at is not None:
            EVENTS.due_at(next_attempt_at, event.pk, "retry")
        ProcessingAttempt.objects.create(
            event=event,
            number=event.attempts,
            trigger=trigger,
            started_at=started,
            finished_at=now,
            outcome=AttemptOutcome.FAILED,
            error=message,
        )
    return status


def processing_backoff() -> Backoff:
    """The wait before each retry of a failed processing attempt; then the event is dead."""
    return Backoff.of(settings.HOOKDESK["PROCESSING_BACKOFF_SECONDS"])


def events_sweep(*, now=None) -> dict[str, int]:
    """Recover what the queue lost: stale claims of dead workers, retries that are due,
    and events stored but never queued. Safe to run anywhere, any number of times."""
    now = now or timezone.now()
    conf = settings.HOOKDESK
    max_attempts = processing_backoff().max_attempts
    stale = now - timedelta(seconds=conf["STALE_CLAIM_SECONDS"])
    claimed_by_dead = Event.objects.filter(status=EventStatus.PROCESSING, claimed_at__lt=stale)
    dead = claimed_by_dead.filter(attempts__gte=max_attempts).update(
        status=EventStatus.DEAD, claimed_at=None, last_error="worker lost during last attempt"
    )
    released = claimed_by_dead.update(
        status=EventStatus.FAILED,
        claimed_at=None,
        next_attempt_at=now,
        last_error="worker lost during processing; retrying",
    )

    quiet = now - timedelta(seconds=conf["SWEEP_PENDING_AFTER_SECONDS"])
    not_recently_queued = Q(requeued_at__isnull=True) | Q(requeued_at__lt=quiet)
    active = Q(endpoint__state=EndpointState.ACTIVE)
    retries = _requeue(
        Event.objects.filter(active, not_recently_queued, status=EventStatus.FAILED).filter(
            next_attempt_at__lte=now
        ),
        now=now,
        trigger="retry",
    )
    lost = _requeue(
        Event.objects.filter(
            active, not_recently_queued, status=EventStatus.PENDING, received_at__lt=quiet
        ),
        now=now,
        trigger="sweep",
    )
    figures = {"dead": dead, "released": released, "retries": retries, "lost": lost}
    if any(figures.values()):
        logger.info("sweep: %s", figures)
    return figures


def _requeue(queryset, *, now, trigger: str) -> int:
    return EVENTS.requeue_due(
        queryset,
        now=now,
        limit=settings.HOOKDESK["SWEEP_BATCH"],
        order_by=("received_at",),
        enqueue=lambda row: event_enqueue(row[0], trigger=trigger),
    )
