"""A destination's drain: the wake-up task that sends its due deliveries in batches, many at
once, within its limits.

New deliveries wake their destination's drain (outbound.DESTINATION_WAKEUPS), once for many.
A drain claims up to DRAIN_BATCH due deliveries, oldest first, as far as admission allows
(integrations/admission.py: the circuit, max_in_flight, rate_limit), in one transaction under
the destination's row lock; sends them concurrently from a pool of threads that touch no
database, each at its granted start time, over the destination's kept connections; and records
each answer as it comes back, fenced by its attempt number like any other attempt.

A drain that took a full batch wakes its destination again before it sends, so another worker
takes the next batch meanwhile; one held back by the rate limit marks itself due when its next
start is (core.clock); and every drain that sent something wakes its destination when it ends,
for what came due meanwhile. A drain that finds nothing ends the chain. Destinations drain
independently: a receiver that never answers holds its own drain's threads, not the others'."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from core import task_names
from core.clock import due_at
from integrations.admission import admit
from integrations.conf import conf
from integrations.models import DeliveryStatus, Destination, OutboundDelivery
from integrations.outbound import (
    DESTINATION_WAKEUPS,
    attempt_make,
    attempt_record,
    attempt_succeeded,
    claim_lease,
    destination_timeout,
    successes_record,
)

logger = logging.getLogger(__name__)

# A rate-limited drain claims the starts of the next second at most; the rest wait for the
# next drain, so a slow limit never holds deliveries claimed for long.
RATE_HORIZON_SECONDS = 1.0


def _earlier_decision_pending():
    """A delivery whose order has an earlier decision still owed to the same destination: a
    receiver must hear "held" before "released" about the same order."""
    return Exists(
        OutboundDelivery.objects.filter(
            destination=OuterRef("destination"),
            hold=OuterRef("hold"),
            status=DeliveryStatus.PENDING,
            created_at__lt=OuterRef("created_at"),
        )
    )


def _due_of(destination: Destination, now: datetime):
    return (
        OutboundDelivery.objects.filter(
            destination=destination, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .exclude(_earlier_decision_pending())
        .order_by("next_attempt_at", "created_at")
        .select_for_update(skip_locked=True, of=("self",))
    )


def _claim_batch(
    destination_id: str, now: datetime, *, batch: int
) -> tuple[Destination | None, list[tuple[OutboundDelivery, datetime]], bool]:
    """Claim what the destination may be sent now: (destination, [(delivery, start)], whether
    more was due than was claimed)."""
    # An open circuit claims nothing: answered without a lock or a query over its deliveries,
    # since every decision owed to a dead receiver wakes its drain.
    paused_until = (
        Destination.objects.filter(pk=destination_id, active=True)
        .values_list("paused_until", flat=True)
        .first()
    )
    if paused_until is not None and paused_until > now:
        _look_again_at(paused_until, destination_id)
        return None, [], False
    with transaction.atomic():
        destination = (
            Destination.objects.select_for_update().filter(pk=destination_id, active=True).first()
        )
        if destination is None:
            return None, [], False
        due = list(_due_of(destination, now)[:batch])
        if not due:
            return destination, [], False
        admission = admit(destination, now=now, wanted=len(due), horizon=RATE_HORIZON_SECONDS)
        taken = list(zip(due, admission.slots, strict=False))
        if taken:
            lease_end = admission.slots[-1] + claim_lease(destination_timeout(destination))
            OutboundDelivery.objects.filter(pk__in=[d.pk for d, _ in taken]).update(
                attempts=F("attempts") + 1, claimed_until=lease_end, queued_at=None
            )
            if destination.rate_limit:
                Destination.objects.filter(pk=destination.pk).update(
                    rate_next_at=destination.rate_next_at
                )
        if admission.retry_at is not None and len(taken) < len(due):
            # Held back by a limit: look again when it allows more.
            _look_again_at(admission.retry_at, destination.pk)
    for delivery, _ in taken:
        delivery.attempts += 1
        delivery.destination = destination
    return destination, taken, len(due) == batch and len(taken) == len(due)


def _look_again_at(when: datetime, destination_id: str) -> None:
    due_at(when, task_names.DRAIN_DESTINATION, destination_id, timeout=DESTINATION_WAKEUPS.timeout)


def _make_at(delivery: OutboundDelivery, destination: Destination, start: datetime) -> dict:
    wait = (start - timezone.now()).total_seconds()
    if wait > 0:
        time.sleep(wait)
    return attempt_make(delivery, destination)


def destination_drain(*, destination_id: str, batch: int | None = None) -> int:
    """The drain task: send up to `batch` due deliveries of a destination (DRAIN_BATCH by
    default). Returns how many succeeded."""
    batch = batch or conf()["DRAIN_BATCH"]
    DESTINATION_WAKEUPS.clear(destination_id)  # before the claim: what comes later wakes anew
    destination, taken, full = _claim_batch(destination_id, timezone.now(), batch=batch)
    if not taken:
        return 0
    if full:
        DESTINATION_WAKEUPS.wake(destination_id)  # the next batch, by another worker meanwhile
    succeeded = _send_all(destination, taken)
    DESTINATION_WAKEUPS.wake(destination_id)
    return succeeded


def _send_all(destination: Destination, taken: list[tuple[OutboundDelivery, datetime]]) -> int:
    """Send the claimed deliveries at once, each at its start; record a failure as it comes
    back, and the successes together at the end. The threads are this drain's own: a receiver
    that never answers holds them, and no other destination's sends."""
    threads = min(len(taken), conf()["SEND_CONCURRENCY"])
    succeeded = []
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send") as pool:
        futures = [pool.submit(_make_at, delivery, destination, start) for delivery, start in taken]
        for future in as_completed(futures):
            attempt = future.result()
            if attempt_succeeded(attempt):
                succeeded.append(attempt)
                continue
            try:
                attempt_record(**attempt)
            except Exception:
                # The claim's lease runs out and the watchdog sends the delivery again.
                logger.exception("destination %s: an attempt could not be recorded",
                                 destination.pk)  # fmt: skip
    return successes_record(succeeded)
