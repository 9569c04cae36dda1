"""Reads for the API, the admin and the dashboard: destinations' health and their deliveries."""

from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from core import plain_sql
from integrations.admission import in_flight
from integrations.models import (
    AttemptResult,
    DeliveryStatus,
    Destination,
    OutboundAttempt,
    OutboundDelivery,
)

HEALTH_WINDOW = timedelta(hours=24)


def destinations_with_counts() -> QuerySet[Destination]:
    """Destinations with their pending and dead-letter counts (indexed by status)."""
    return Destination.objects.annotate(
        pending_count=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
        dead_count=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD)),
    )


def destination_health(*, destination: Destination, now=None) -> dict[str, Any]:
    """Success rate of the last 24 hours' attempts, the last error, and what is waiting."""
    now = now or timezone.now()
    attempts = OutboundAttempt.objects.filter(
        delivery__destination=destination, started_at__gte=now - HEALTH_WINDOW
    ).aggregate(total=Count("id"), succeeded=Count("id", filter=Q(result=AttemptResult.SUCCEEDED)))
    counts = OutboundDelivery.objects.filter(destination=destination).aggregate(
        pending=Count("id", filter=Q(status=DeliveryStatus.PENDING)),
        dead=Count("id", filter=Q(status=DeliveryStatus.DEAD)),
    )
    p50, p95 = _latency_percentiles(destination, since=now - HEALTH_WINDOW)
    return {
        "success_rate_24h": (
            round(attempts["succeeded"] / attempts["total"], 4) if attempts["total"] else None
        ),
        "attempts_24h": attempts["total"],
        "latency_p50_ms_24h": p50,
        "latency_p95_ms_24h": p95,
        "in_flight": in_flight(destination, now),
        "failing_since": destination.failing_since,
        "pending": counts["pending"],
        "dead": counts["dead"],
        "last_success_at": destination.last_success_at,
        "last_failure_at": destination.last_failure_at,
        "last_error": destination.last_error or None,
        "consecutive_failures": destination.consecutive_failures,
        "circuit_open_until": (
            destination.paused_until
            if destination.paused_until and destination.paused_until > now
            else None
        ),
    }


def _latency_percentiles(destination: Destination, *, since) -> tuple[float | None, float | None]:
    """Median and 95th percentile of the attempts' durations (ms) since `since`."""
    if connection.vendor != "postgresql":
        return None, None
    attempt, delivery = plain_sql.table(OutboundAttempt), plain_sql.table(OutboundDelivery)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms),"  # noqa: S608
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration_ms)"
            f" FROM {attempt} a JOIN {delivery} d ON d.id = a.delivery_id"
            " WHERE d.destination_id = %s AND a.started_at >= %s",
            [destination.pk, since],
        )
        p50, p95 = cursor.fetchone()
    return (round(p50, 1) if p50 is not None else None, round(p95, 1) if p95 is not None else None)


def destination_circuit(destination: Destination, *, now=None) -> str:
    """The destination's circuit, in words: closed, open until when, or probing."""
    now = now or timezone.now()
    if not destination.active:
        return "off" + (f": {destination.disabled_reason}" if destination.disabled_reason else "")
    if destination.paused_until and destination.paused_until > now:
        return "open"
    if destination.consecutive_failures:
        return "probing"
    return "closed"


def destination_pending(*, destination: Destination, limit: int = 20) -> list[OutboundDelivery]:
    """The destination's pending deliveries, the soonest due first (the drain's index)."""
    return list(
        OutboundDelivery.objects.filter(destination=destination, status=DeliveryStatus.PENDING)
        .order_by("next_attempt_at", "created_at")
        .only("id", "event_type", "order_id", "attempts", "next_attempt_at", "claimed_until")[
            :limit
        ]
    )


def destinations_health(*, now=None) -> list[dict[str, Any]]:
    """Every destination's health, for the dashboard: one grouped query per figure."""
    now = now or timezone.now()
    since = now - HEALTH_WINDOW
    rates = {
        row["delivery__destination"]: row
        for row in OutboundAttempt.objects.filter(started_at__gte=since)
        .values("delivery__destination")
        .annotate(
            total=Count("id"), succeeded=Count("id", filter=Q(result=AttemptResult.SUCCEEDED))
        )
        .order_by()
    }
    health = []
    for destination in destinations_with_counts():
        rate = rates.get(destination.pk, {"total": 0, "succeeded": 0})
        health.append(
            {
                "id": destination.pk,
                "name": destination.name,
                "active": destination.active,
                "success_rate_24h": (
                    round(rate["succeeded"] / rate["total"], 4) if rate["total"] else None
                ),
                "attempts_24h": rate["total"],
                "pending": destination.pending_count,
                "dead": destination.dead_count,
                "last_error": destination.last_error or None,
                "last_failure_at": destination.last_failure_at,
                "insecure_tls": destination.tls_trust_all,
            }
        )
    return health


def deliveries_for(
    *, destination: Destination, status: str | None = None, event_type: str | None = None
) -> QuerySet[OutboundDelivery]:
    deliveries = OutboundDelivery.objects.filter(destination=destination)
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(event_type=event_type)
    return deliveries


def destinations_delivery_figures(*, destination_ids, now=None) -> dict[str, dict]:
    """For a page of destinations, in one grouped query on the (destination, -created_at)
    index: the outbound deliveries of the last 24 hours, how many of them failed (dead, or
    still retrying after a failed attempt), and when the last of them was made."""
    since = (now or timezone.now()) - HEALTH_WINDOW
    failed = Q(status=DeliveryStatus.DEAD) | Q(status=DeliveryStatus.PENDING, attempts__gt=0)
    rows = (
        OutboundDelivery.objects.filter(
            destination_id__in=list(destination_ids), created_at__gte=since
        )
        .values("destination_id")
        .annotate(total=Count("id"), failed=Count("id", filter=failed), last=Max("created_at"))
        .order_by()
    )
    return {row["destination_id"]: row for row in rows}
