"""The delivery engine: the outbox write, enqueue, claim, send, retry with backoff, dead letters,
the circuit that keeps one failing destination from tying up the workers, and the watchdog.

Workers get a delivery at least once (brokers redeliver, the watchdog re-queues), so sending is
made at-most-once per attempt here: a conditional update claims the delivery for one run, no
database transaction is open while the request is in flight, and the outcome is written fenced
by the attempt number."""

import logging
import math
import time
from datetime import datetime, timedelta

import httpx
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core import task_names
from core.audit import audit_record
from core.caching import invalidated_cache
from core.jobs import Backoff, JobTable, WakeUps
from integrations import crypto_fields
from integrations.adapters import OutboundEvent, get_adapter
from integrations.admission import admit
from integrations.conf import conf
from integrations.durations import duration_parse
from integrations.envelopes import notice_for
from integrations.models import (
    AttemptResult,
    AuditAction,
    DeliveryStatus,
    Destination,
    OutboundAttempt,
    OutboundDelivery,
)
from integrations.signals import delivery_dead, destination_disabled
from integrations.tls import ssl_context
from integrations.transport import Answer, Transport, TransportError, retry_after_seconds
from rules.models import HeldOrder
from webhooks.providers import get_scheme

logger = logging.getLogger(__name__)

# Deliveries are durable jobs (core.jobs): the attempt number fences each claim, and the
# watchdog marks `queued_at` when it queues one. New deliveries go out through their
# destination's drain (integrations/drain.py), woken once for many; a retry, or a delivery
# sent again by an operator, is sent on its own.
DELIVERIES = JobTable(model=OutboundDelivery, task=task_names.SEND_DELIVERY)
# A drain sends for up to a second of rate-limited starts, then waits for at most two of the
# longest connection timeouts (connect, then read).
DESTINATION_WAKEUPS = WakeUps(
    name="drain",
    task=task_names.DRAIN_DESTINATION,
    timeout=math.ceil(2 * conf()["MAX_CONNECTION_TIMEOUT_SECONDS"]) + 16,
)
WATCHDOG_SCHEDULE_NAME = "hookdesk: outbound watchdog"


# --- Configuration read per destination -----------------------------------------------------


def destination_timeout(destination: Destination) -> float:
    return duration_parse(destination.connection_timeout).total_seconds()


def destination_schedule(destination: Destination) -> list[float]:
    return list(destination.retry_schedule or conf()["RETRY_SCHEDULE_SECONDS"])


def destination_backoff(destination: Destination) -> Backoff:
    return Backoff.of(destination_schedule(destination), jitter=conf()["RETRY_JITTER"])


def _task_timeout(timeout: float) -> int:
    # Connect, then read, each up to `timeout`; the margin covers signing and bookkeeping.
    return math.ceil(2 * timeout) + 15


def claim_lease(timeout: float) -> timedelta:
    return timedelta(seconds=2 * timeout + 30)


# Destinations are read for every hold: each process keeps them until a change to one commits
# (core.caching), as it does blocks.
@invalidated_cache("integrations.destinations")
def destinations_active() -> list[Destination]:
    return list(Destination.objects.filter(active=True))


# Connected to the Destination model's post_save and post_delete (integrations.apps), and
# called where a destination is changed with a bulk update (health, auto-disable).
destinations_cache_clear = destinations_active.invalidate


# --- The outbox -----------------------------------------------------------------------------


def deliveries_create_for_hold(*, hold: HeldOrder, event_type: str) -> list[str]:
    """Owe `event_type` about `hold` to every destination that wants it.

    Called inside the transaction that made the decision (rules.signals.hold_changed), so the
    rows exist exactly when the decision does. The unique (hold, event type, destination)
    constraint makes a second call for the same decision a no-op. Sending waits for commit."""
    destinations = [
        destination
        for destination in destinations_active()
        if event_type in destination.event_types
        and (not destination.block_id or destination.block_id == hold.public_block_id)
    ]
    if not destinations:
        return []
    now = timezone.now()
    notice = notice_for(hold=hold, event_type=event_type)
    rows = [
        OutboundDelivery(
            destination=destination,
            hold=hold,
            event_type=event_type,
            order_id=notice["order_id"],
            notice=notice,
            max_attempts=len(destination_schedule(destination)) + 1,
            next_attempt_at=now,
            queued_at=now,
            created_at=now,
        )
        for destination in destinations
    ]
    OutboundDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    created = dict(
        OutboundDelivery.objects.filter(pk__in=[row.pk for row in rows]).values_list(
            "pk", "destination_id"
        )
    )
    if created:
        woken = sorted(set(created.values()))
        transaction.on_commit(lambda: [DESTINATION_WAKEUPS.wake(pk) for pk in woken])
    return list(created)


def on_hold_changed(sender, *, hold: HeldOrder, event_type: str, **kwargs) -> None:
    """Receiver of rules.signals.hold_changed."""
    deliveries_create_for_hold(hold=hold, event_type=event_type)


def deliveries_enqueue(items: list[tuple[str, float]]) -> int:
    """Queue (delivery id, connection timeout) pairs. A lost enqueue is logged, not raised:
    the watchdog queues any due delivery left unsent."""
    return sum(
        DELIVERIES.enqueue(delivery_id, timeout=_task_timeout(timeout))
        for delivery_id, timeout in items
    )


# --- Sending --------------------------------------------------------------------------------


def _defer(delivery: OutboundDelivery, destination: Destination, until: datetime, why: str) -> str:
    """Postpone without an attempt, and have it queued again at `until`."""
    if DELIVERIES.fenced(delivery.pk, delivery.attempts).update(
        next_attempt_at=until, queued_at=None
    ):
        _due_at(until, delivery.pk, destination)
    logger.info("delivery %s deferred until %s: %s", delivery.pk, until.isoformat(), why)
    return "deferred"


def _claim(delivery_id: str, now: datetime) -> tuple[OutboundDelivery | None, str]:
    """Take the delivery for this run, or say why not."""
    with transaction.atomic():
        delivery = OutboundDelivery.objects.filter(pk=delivery_id).first()
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return None, "done"
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            return None, "not due"
        if delivery.claimed_until and delivery.claimed_until > now:
            return None, "claimed"
        # Locks the destination row for the few milliseconds of the claim: two workers claiming
        # for one destination then see each other's claims (the circuit's one-at-a-time rule).
        destination = Destination.objects.select_for_update().get(pk=delivery.destination_id)
        if not destination.active:
            return None, "destination inactive"
        earlier = list(
            OutboundDelivery.objects.filter(
                destination=destination,
                hold_id=delivery.hold_id,
                status=DeliveryStatus.PENDING,
                created_at__lt=delivery.created_at,
            ).values_list("next_attempt_at", flat=True)[:1]
        )
        if earlier:
            # A receiver must hear "held" before "released" about the same order.
            until = max(earlier[0] or now, now) + timedelta(seconds=1)
            why = "an earlier decision about this order is not delivered yet"
            return None, _defer(delivery, destination, until, why)
        admission = admit(destination, now=now, wanted=1)
        if not admission.slots:
            return None, _defer(delivery, destination, admission.retry_at, admission.why)
        if destination.rate_limit:
            Destination.objects.filter(pk=destination.pk).update(
                rate_next_at=destination.rate_next_at
            )
        timeout = destination_timeout(destination)
        unclaimed = OutboundDelivery.objects.filter(status=DeliveryStatus.PENDING).filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
        )
        if not DELIVERIES.claim_one(
            delivery.pk,
            delivery.attempts,
            where=unclaimed,
            claimed_until=now + claim_lease(timeout),
        ):
            return None, "claimed"
    delivery.attempts += 1
    delivery.destination = destination
    return delivery, "claimed"


def _transport(destination: Destination) -> Transport:
    return Transport(
        key=(destination.pk, destination.updated_at.isoformat()),
        timeout=destination_timeout(destination),
        ssl_context=lambda: ssl_context(**crypto_fields.destination_tls(destination)),
        user_agent=conf()["USER_AGENT"],
        connections=conf()["SEND_CONCURRENCY"],
    )


def delivery_request(
    *, delivery: OutboundDelivery, destination: Destination, attempt: int
) -> tuple[str, bytes, dict[str, str]]:
    """URL, body and headers of one attempt, signed as the destination's scheme verifies."""
    adapter = get_adapter(destination.adapter)
    request = adapter.request(
        event=OutboundEvent(
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            created_at=delivery.created_at,
            notice=delivery.notice,
        ),
        url=destination.url,
        scheme=destination.signature_scheme,
        scope=destination.scope,
        status_mapping=destination.status_mapping,
        body_template=destination.body_template,
    )
    url = request.url
    key = crypto_fields.destination_key(destination)
    if key:
        url = str(httpx.URL(url).copy_merge_params({"key": key}))
    headers = {"Content-Type": "application/json", "X-Hookdesk-Delivery": delivery.pk}
    if attempt > 1:
        headers["X-Retry-Count"] = str(attempt - 1)
    secret = crypto_fields.destination_secret(destination)
    if secret:
        headers |= get_scheme(destination.signature_scheme).sign(
            body=request.body, secret=secret, timestamp=int(time.time()), event_id=delivery.event_id
        )
    return url, request.body, headers


def delivery_send(*, delivery_id: str) -> str:
    """Make one attempt at a delivery if it is due and nobody else is sending it. Returns what
    happened: succeeded, retry, dead, deferred, or why nothing was done."""
    now = timezone.now()
    delivery, why = _claim(delivery_id, now)
    if delivery is None:
        return why
    outcome = attempt_record(**attempt_make(delivery, delivery.destination))
    if delivery.destination.max_in_flight or delivery.destination.rate_limit:
        # Deliveries held back by the limits wait for room: this one just made some.
        DESTINATION_WAKEUPS.wake(delivery.destination_id)
    return outcome


def attempt_make(delivery: OutboundDelivery, destination: Destination) -> dict:
    """Send a claimed delivery once, and return the attempt for `attempt_record`. Touches no
    database, so the drain runs it in threads, many at once."""
    delivery_id = delivery.pk
    attempt = delivery.attempts
    started_at = timezone.now()
    started = time.monotonic()
    answer: Answer | None = None
    failure: TransportError | None = None
    retry_header = attempt - 1 if attempt > 1 else None
    try:
        url, body, headers = delivery_request(
            delivery=delivery, destination=destination, attempt=attempt
        )
        answer = _transport(destination).post(
            url=url, body=body, headers=headers, snippet_bytes=conf()["RESPONSE_SNIPPET_BYTES"]
        )
    except TransportError as error:
        failure = error
    except Exception as error:
        # Bad stored configuration (a secret that no longer decrypts, a template that no longer
        # renders, unusable TLS material): retrying cannot help until an operator fixes it.
        logger.exception("delivery %s: cannot build the request", delivery_id)
        failure = TransportError(
            f"{type(error).__name__}: {error}"[:400], permanent=True, kind="configuration"
        )
    duration_ms = answer.duration_ms if answer else (time.monotonic() - started) * 1000
    return {
        "delivery": delivery,
        "destination": destination,
        "attempt": attempt,
        "started_at": started_at,
        "duration_ms": duration_ms,
        "answer": answer,
        "failure": failure,
        "retry_header": retry_header,
    }


def _due_at(when: datetime, delivery_id: str, destination: Destination) -> None:
    DELIVERIES.due_at(when, delivery_id, timeout=_task_timeout(destination_timeout(destination)))


def _retry_delay(delivery: OutboundDelivery, destination: Destination, answer, now) -> float:
    if answer is not None and answer.status_code == 429:
        asked = retry_after_seconds(answer.headers.get("retry-after"), now=time.time())
        if asked is not None:
            return min(asked, conf()["RETRY_AFTER_MAX_SECONDS"])
    # A delivery keeps the attempts it was created with: past a schedule shortened since,
    # it waits the schedule's last delay.
    backoff = destination_backoff(destination)
    return backoff.delay(min(delivery.attempts, len(backoff.delays)))


def attempt_record(
    *,
    delivery: OutboundDelivery,
    destination: Destination,
    attempt: int,
    started_at: datetime,
    duration_ms: float,
    answer: Answer | None,
    failure: TransportError | None,
    retry_header: int | None,
) -> str:
    now = timezone.now()
    status_code = answer.status_code if answer else None
    if answer is not None and 200 <= answer.status_code < 300:
        result, error = AttemptResult.SUCCEEDED, ""
    elif answer is not None:
        result = {410: AttemptResult.GONE, 429: AttemptResult.RATE_LIMITED}.get(
            answer.status_code, AttemptResult.HTTP_ERROR
        )
        error = f"HTTP {answer.status_code}"
    else:
        result, error = failure.kind, failure.message
    permanent = result == AttemptResult.GONE or (failure is not None and failure.permanent)

    with transaction.atomic():
        current = OutboundDelivery.objects.select_for_update().filter(pk=delivery.pk).first()
        if current is None:
            return "deleted"  # the destination was deleted while we were sending
        OutboundAttempt.objects.create(
            delivery=current,
            number=attempt,
            started_at=started_at,
            duration_ms=round(duration_ms, 3),
            result=result,
            status_code=status_code,
            retry_count_header=retry_header,
            error=error[:500],
            response_snippet=answer.snippet if answer else "",
        )
        if current.status != DeliveryStatus.PENDING or current.attempts != attempt:
            return "superseded"  # cancelled or retried by an operator meanwhile
        changes: dict = {
            "claimed_until": None,
            "last_status_code": status_code,
            "last_error": error[:500],
        }
        if result == AttemptResult.SUCCEEDED:
            outcome = "succeeded"
            changes |= {"status": DeliveryStatus.SUCCEEDED, "succeeded_at": now,
                        "next_attempt_at": None}  # fmt: skip
        elif permanent or attempt >= current.max_attempts:
            outcome = "dead"
            changes |= {"status": DeliveryStatus.DEAD, "dead_at": now, "next_attempt_at": None}
            transaction.on_commit(
                lambda: delivery_dead.send_robust(sender=OutboundDelivery, delivery=current)
            )
        else:
            outcome = "retry"
            delay = _retry_delay(current, destination, answer, now)
            changes |= {"next_attempt_at": now + timedelta(seconds=delay), "queued_at": None}
            _due_at(changes["next_attempt_at"], current.pk, destination)
        OutboundDelivery.objects.filter(pk=current.pk).update(**changes)
        _destination_health(destination, result=result, error=error, now=now)
    log = logger.info if outcome == "succeeded" else logger.warning
    log("delivery %s attempt %d to %s: %s (%s)", delivery.pk, attempt, destination.pk,
        result, outcome)  # fmt: skip
    return outcome


def attempt_succeeded(attempt: dict) -> bool:
    answer = attempt["answer"]
    return answer is not None and 200 <= answer.status_code < 300


def successes_record(attempts: list[dict]) -> int:
    """Record many successful attempts at deliveries of one destination (attempt_make's, each
    answered 2xx) in one transaction: the attempts in one insert, the deliveries in one update
    per status code, the destination's health once. Fenced like attempt_record: a delivery
    cancelled, retried by an operator or deleted meanwhile keeps its state. Returns how many
    deliveries were marked succeeded."""
    if not attempts:
        return 0
    destination = attempts[0]["destination"]
    now = timezone.now()
    with transaction.atomic():
        rows = {
            pk: (status, number)
            for pk, status, number in OutboundDelivery.objects.select_for_update()
            .filter(pk__in=[a["delivery"].pk for a in attempts])
            .values_list("pk", "status", "attempts")
        }
        OutboundAttempt.objects.bulk_create(
            [
                OutboundAttempt(
                    delivery_id=a["delivery"].pk,
                    number=a["attempt"],
                    started_at=a["started_at"],
                    duration_ms=round(a["duration_ms"], 3),
                    result=AttemptResult.SUCCEEDED,
                    status_code=a["answer"].status_code,
                    retry_count_header=a["retry_header"],
                    response_snippet=a["answer"].snippet,
                )
                for a in attempts
                if a["delivery"].pk in rows
            ]
        )
        by_code: dict[int, list[str]] = {}
        for a in attempts:
            if rows.get(a["delivery"].pk) == (DeliveryStatus.PENDING, a["attempt"]):
                by_code.setdefault(a["answer"].status_code, []).append(a["delivery"].pk)
        for code, pks in by_code.items():
            OutboundDelivery.objects.filter(pk__in=pks).update(
                status=DeliveryStatus.SUCCEEDED,
                succeeded_at=now,
                next_attempt_at=None,
                claimed_until=None,
                last_status_code=code,
                last_error="",
            )
        succeeded = sum(map(len, by_code.values()))
        if succeeded:
            _destination_health(destination, result=AttemptResult.SUCCEEDED, error="", now=now)
    logger.info("destination %s: %d deliveries succeeded", destination.pk, succeeded)
    return succeeded


def _destination_health(destination: Destination, *, result: str, error: str, now) -> None:
    if result == AttemptResult.SUCCEEDED:
        recovered = Destination.objects.filter(pk=destination.pk, consecutive_failures__gt=0)
        if recovered.update(consecutive_failures=0, paused_until=None, failing_since=None):
            _deliveries_due_now(destination, now)
        Destination.objects.filter(pk=destination.pk).update(last_success_at=now)
        return
    changes: dict = {
        "consecutive_failures": F("consecutive_failures") + 1,
        "last_failure_at": now,
        "last_error": error[:500],
        "failing_since": Coalesce(F("failing_since"), Value(now)),
    }
    if result in (AttemptResult.TIMEOUT, AttemptResult.CONNECTION, AttemptResult.TLS):
        # Never longer than the destination's own first retry delay: the schedule an operator
        # set is the schedule that runs, the circuit only keeps the attempts one at a time.
        pause = min(conf()["CIRCUIT_PAUSE_SECONDS"], destination_schedule(destination)[0])
        changes["paused_until"] = now + timedelta(seconds=pause)
    Destination.objects.filter(pk=destination.pk).update(**changes)
    if result == AttemptResult.GONE:
        _disable(destination, f"the receiver answered 410 Gone at {now:%Y-%m-%d %H:%M:%S} UTC")
        return
    # Failing without a single success for disable_after_seconds: switched off.
    failing_too_long = Destination.objects.filter(
        pk=destination.pk,
        active=True,
        failing_since__lte=now - timedelta(seconds=destination.disable_after_seconds),
    )
    if failing_too_long.exists():
        since = failing_too_long.values_list("failing_since", flat=True).get()
        _disable(
            destination,
            f"every attempt failed from {since:%Y-%m-%d %H:%M:%S} UTC to "
            f"{now:%Y-%m-%d %H:%M:%S} UTC (disable after {destination.disable_after_seconds} s)",
        )


def _disable(destination: Destination, reason: str) -> None:
    """Switch a destination off for a reason of hookdesk's own, audited, and tell the console
    once it commits. Its pending deliveries are kept for when it is enabled again."""
    if not Destination.objects.filter(pk=destination.pk, active=True).update(
        active=False, disabled_reason=reason[:300]
    ):
        return  # already off
    audit_record(
        action=AuditAction.DESTINATION_CHANGED,
        obj_type="destination",
        obj_id=destination.pk,
        reason=reason,
        before={"active": True},
        after={"active": False},
    )
    destinations_cache_clear()
    logger.warning("destination %s disabled: %s", destination.pk, reason)
    transaction.on_commit(
        lambda: destination_disabled.send_robust(
            sender=Destination, destination=destination, reason=reason
        )
    )


def _deliveries_due_now(destination: Destination, now: datetime) -> None:
    """Whatever the destination's pending deliveries waited for (a retry, the circuit, the
    destination being off) is over: all of them are due now and go out through its drain,
    oldest first, instead of at the waits a dead receiver earned."""
    pending = OutboundDelivery.objects.filter(
        destination=destination, status=DeliveryStatus.PENDING
    )
    pending.filter(next_attempt_at__gt=now).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    ).update(next_attempt_at=now, queued_at=None)
    if pending.exists():
        transaction.on_commit(lambda: DESTINATION_WAKEUPS.wake(destination.pk))


def destination_resume(destination: Destination, *, now: datetime | None = None) -> None:
    """A destination enabled again: its health starts afresh, and its pending deliveries go
    out at once, in the order they were created. Called inside the transaction that enabled
    it."""
    Destination.objects.filter(pk=destination.pk).update(
        consecutive_failures=0, paused_until=None, failing_since=None, disabled_reason=""
    )
    _deliveries_due_now(destination, now or timezone.now())


# --- Watchdog -------------------------------------------------------------------------------


def deliveries_requeue_due(*, now: datetime | None = None) -> int:
    """Queue every due delivery nobody is sending or has just queued: retries whose time has
    come, deliveries whose enqueue was lost, claims of workers that died. Safe to run anywhere,
    any number of times."""
    now = now or timezone.now()
    settings = conf()
    quiet = now - timedelta(seconds=settings["REQUEUE_AFTER_SECONDS"])
    due = (
        OutboundDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now, destination__active=True
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lte=quiet))
    )
    queued = DELIVERIES.requeue_due(
        due,
        now=now,
        limit=settings["WATCHDOG_BATCH"],
        order_by=("next_attempt_at",),
        values=("destination__connection_timeout",),
        enqueue=lambda row: deliveries_enqueue([(row[0], duration_parse(row[1]).total_seconds())]),
    )
    if queued:
        logger.info("outbound watchdog: queued %d due deliveries", queued)
    return queued
