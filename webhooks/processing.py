"""The processing pipeline: enqueue, claim, process, retry with backoff, dead, sweep.

Delivery to the worker is at-least-once (brokers redeliver, the sweep re-enqueues), so
processing is made exactly-once in effect here: a conditional claim decides which run
processes an event, and the run's writes commit only if its claim is still the current one."""

import functools
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.brokers import get_broker
from django_q.tasks import async_task

from webhooks.models import (
    AttemptOutcome,
    EndpointState,
    Event,
    EventStatus,
    ProcessingAttempt,
)
from webhooks.providers import OrderView, get_scheme

logger = logging.getLogger(__name__)

PROCESS_TASK = "webhooks.tasks.process_event"
SWEEP_SCHEDULE_NAME = "hookdesk: sweep events"
MAX_ERROR_LENGTH = 2000


class ClaimLost(Exception):
    """Our claim on the event was taken over (the sweep judged us dead); nothing is written."""


@functools.cache
def broker():
    # One broker per process: building one per enqueue costs a connection each time.
    return get_broker()


@functools.cache
def event_consumers() -> tuple:
    """The functions that act on a processed event, from HOOKDESK["EVENT_CONSUMERS"].

    Each is called as `consumer(event=..., order_view=...)` inside the processing transaction:
    if one raises, nothing any of them wrote is kept and the event is retried."""
    return tuple(import_string(path) for path in settings.HOOKDESK["EVENT_CONSUMERS"])


def event_enqueue(event_id: str, *, trigger: str) -> bool:
    """Put one event on the queue. A failed enqueue is logged, not raised: the event is
    already stored and the sweep will queue it."""
    try:
        async_task(PROCESS_TASK, event_id, trigger, broker=broker(), hook=None)
    except Exception:
        logger.warning("enqueue of %s failed; the sweep will pick it up", event_id, exc_info=True)
        return False
    return True


def events_enqueue(event_ids, *, trigger: str) -> int:
    return sum(event_enqueue(event_id, trigger=trigger) for event_id in event_ids)


def _claim(event_id: str, now) -> Event | None:
    """Take the event for this run, or None when it is not ours to process: done, not due,
    paused, or claimed by another run. The conditional update's row count says who won."""
    event = Event.objects.select_related("endpoint").filter(pk=event_id).first()
    if (
        event is None
        or event.endpoint.state != EndpointState.ACTIVE
        or event.status not in (EventStatus.PENDING, EventStatus.FAILED)
        or (event.next_attempt_at is not None and event.next_attempt_at > now)
    ):
        return None
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        claimed = Event.objects.filter(
            pk=event_id, status=event.status, attempts=event.attempts
        ).update(status=EventStatus.PROCESSING, claimed_at=now, attempts=F("attempts") + 1)
    if claimed != 1:
        return None
    event.status, event.claimed_at, event.attempts = EventStatus.PROCESSING, now, event.attempts + 1
    return event


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
    started = timezone.now()
    event = _claim(event_id, started)
    if event is None:
        return None
    try:
        with transaction.atomic():
            order_view = event_order_view(event)
            for consumer in event_consumers():
                consumer(event=event, order_view=order_view)
            _finish(event, started, trigger, order_view=order_view)
    except ClaimLost:
        logger.warning("event %s: claim lost to another run, its work was discarded", event_id)
        return None
    except Exception as error:
        logger.exception("event %s: processing attempt %d failed", event_id, event.attempts)
        return _fail(event, started, trigger, error)
    return EventStatus.PROCESSED


def _finish(event: Event, started, trigger: str, *, order_view: OrderView) -> None:
    now = timezone.now()
    # Fenced by the attempt number: if the sweep re-queued this event and another run
    # claimed it meanwhile, this update matches nothing and the transaction is rolled back.
    updated = Event.objects.filter(
        pk=event.pk, status=EventStatus.PROCESSING, attempts=event.attempts
    ).update(
        status=EventStatus.PROCESSED,
        processed_at=now,
        order_view=order_view.as_json(),
        order_id=order_view.order_id or "",
        customer_id=order_view.customer_id or "",
        last_error="",
        claimed_at=None,
        next_attempt_at=None,
    )
    if updated != 1:
        raise ClaimLost(event.pk)
    ProcessingAttempt.objects.create(
        event=event,
        number=event.attempts,
        trigger=trigger,
        started_at=started,
        finished_at=now,
        outcome=AttemptOutcome.SUCCEEDED,
    )


def _fail(event: Event, started, trigger: str, error: Exception) -> str | None:
    now = timezone.now()
    message = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
    backoff = settings.HOOKDESK["PROCESSING_BACKOFF_SECONDS"]
    if event.attempts <= len(backoff):
        status = EventStatus.FAILED
        next_attempt_at = now + timedelta(seconds=backoff[event.attempts - 1])
    else:
        status, next_attempt_at = EventStatus.DEAD, None
    with transaction.atomic():
        updated = Event.objects.filter(
            pk=event.pk, status=EventStatus.PROCESSING, attempts=event.attempts
        ).update(
            status=status,
            last_error=message,
            claimed_at=None,
            next_attempt_at=next_attempt_at,
        )
        if updated != 1:
            return None
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


def events_sweep(*, now=None) -> dict[str, int]:
    """Recover what the queue lost: stale claims of dead workers, retries that are due,
    and events stored but never queued. Safe to run anywhere, any number of times."""
    now = now or timezone.now()
    conf = settings.HOOKDESK
    max_attempts = len(conf["PROCESSING_BACKOFF_SECONDS"]) + 1
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
    with transaction.atomic():
        # skip_locked: two clusters sweeping at once split the work instead of both
        # queueing the same events.
        ids = list(
            queryset.order_by("received_at")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[: settings.HOOKDESK["SWEEP_BATCH"]]
        )
        Event.objects.filter(pk__in=ids).update(requeued_at=now)
    return events_enqueue(ids, trigger=trigger)
