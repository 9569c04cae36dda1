"""Admission: whether, and when, a destination may be sent another delivery.

Asked under the destination's row lock (SELECT … FOR UPDATE), which every claim for the
destination takes, whichever worker or cluster makes it: each claim sees the others', so the
circuit and the limits hold across processes. In order:

1. **The circuit.** After a timeout or a refused connection the destination is paused; while it
   is failing, and before it has ever answered, one delivery at a time probes it. So a new
   receiver that never answers ties up one send for one timeout, not a whole batch.
2. **`max_in_flight`.** Deliveries claimed and not yet answered count against it.
3. **`rate_limit`.** Starts are spaced `1 / rate_limit` seconds apart (a GCRA without burst):
   `Destination.rate_next_at` is the earliest start the next claim may have, moved on by each
   grant."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from integrations.conf import conf
from integrations.models import DeliveryStatus, Destination, OutboundDelivery

# How soon a delivery turned away by max_in_flight asks again, when nothing else wakes it.
IN_FLIGHT_RECHECK = timedelta(seconds=0.5)


@dataclass
class Admission:
    """Start times granted, soonest first; when fewer were granted than asked for, when to ask
    again (`retry_at`) and why."""

    slots: list[datetime] = field(default_factory=list)
    retry_at: datetime | None = None
    why: str = ""


def _claimed(destination: Destination, now: datetime):
    """Deliveries of the destination claimed by a live run and not yet answered."""
    return OutboundDelivery.objects.filter(
        destination=destination, status=DeliveryStatus.PENDING, claimed_until__gt=now
    )


def in_flight(destination: Destination, now: datetime) -> int:
    return _claimed(destination, now).count()


def _first_retry_delay(destination: Destination) -> float:
    return float((destination.retry_schedule or conf()["RETRY_SCHEDULE_SECONDS"])[0])


def _probe_until(destination: Destination, now: datetime) -> datetime | None:
    """While a failing destination is being probed: until when the probe holds its claim."""
    return (
        _claimed(destination, now)
        .order_by("-claimed_until")
        .values_list("claimed_until", flat=True)
        .first()
    )


def admit(
    destination: Destination, *, now: datetime, wanted: int, horizon: float = 0.0
) -> Admission:
    """Grant up to `wanted` start times from now to `horizon` seconds ahead. What the rate
    limit grants is reserved: the caller saves `destination.rate_next_at`, under the lock."""
    if destination.paused_until and destination.paused_until > now:
        return Admission(retry_at=destination.paused_until, why="destination circuit open")
    if destination.consecutive_failures or destination.last_success_at is None:
        busy_until = _probe_until(destination, now)
        if busy_until is not None:
            # Asked again when the probe's claim runs out at the latest; sooner if the
            # destination's own first retry delay is shorter (a short schedule runs as set).
            first_delay = timedelta(seconds=_first_retry_delay(destination))
            return Admission(
                retry_at=min(busy_until, now + first_delay),
                why="failing destination is being probed",
            )
        wanted = min(wanted, 1)
    if destination.max_in_flight:
        room = destination.max_in_flight - in_flight(destination, now)
        if room <= 0:
            return Admission(retry_at=now + IN_FLIGHT_RECHECK, why="max_in_flight reached")
        wanted = min(wanted, room)
    return _rate_slots(destination, now=now, wanted=wanted, horizon=horizon)


def _rate_slots(
    destination: Destination, *, now: datetime, wanted: int, horizon: float
) -> Admission:
    if not destination.rate_limit:
        return Admission(slots=[now] * wanted)
    interval = timedelta(seconds=1 / destination.rate_limit)
    slot = max(now, destination.rate_next_at or now)
    last = now + timedelta(seconds=horizon)
    slots = []
    while len(slots) < wanted and slot <= last:
        slots.append(slot)
        slot += interval
    if not slots:
        return Admission(retry_at=slot, why="rate limit")
    destination.rate_next_at = slot
    return Admission(slots=slots, retry_at=slot if len(slots) < wanted else None, why="rate limit")
