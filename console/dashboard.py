"""The dashboard's figures. Every query is bounded by time on an indexed column, so the page
costs the same with a thousand events or a hundred million."""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate, TruncHour
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from console.charts import bar_chart, line_chart
from console.models import Alert, AlertKind, OperationalEvent
from integrations.selectors import destinations_health
from rules.models import HeldOrder, HoldStatus
from webhooks.models import (
    SIGNATURE_FAILURES,
    AttemptOutcome,
    Delivery,
    Event,
    EventStatus,
    ProcessingAttempt,
)

DAYS = 14
HOURS = 24
TOP_SERIES = 6
LATENCY_SAMPLE = 20_000
BACKLOG_CAP = 100_000


def _hours(now: datetime) -> list[datetime]:
    last = now.replace(minute=0, second=0, microsecond=0)
    return [last - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]


def _top(rows: dict[str, dict], keys: list) -> dict[str, list[float]]:
    """Series per name over keys, the biggest TOP_SERIES kept and the rest summed as "other"."""
    totals = sorted(rows, key=lambda name: -sum(rows[name].values()))
    series = {name: [rows[name].get(key, 0) for key in keys] for name in totals[:TOP_SERIES]}
    if len(totals) > TOP_SERIES:
        series["other"] = [
            sum(rows[name].get(key, 0) for name in totals[TOP_SERIES:]) for key in keys
        ]
    return series or {"none": [0] * len(keys)}


def holds_per_day(now: datetime) -> dict:
    today = now.date()
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    start = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    rows = (
        HeldOrder.objects.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day", "block__name", "upstream_block_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    per_block: dict[str, dict] = defaultdict(dict)
    for row in rows:
        name = row["block__name"] or f"upstream {row['upstream_block_id'] or ''}".strip()
        per_block[name][row["day"]] = per_block[name].get(row["day"], 0) + row["n"]
    series = _top(per_block, days)
    total = sum(sum(values) for values in series.values())
    return {
        "total": total,
        "per_block": sorted(
            ((name, sum(values)) for name, values in series.items() if sum(values)),
            key=lambda item: -item[1],
        ),
        "chart": bar_chart(
            title="Held orders per day, by block",
            labels=[day.strftime("%d %b") for day in days],
            series=series,
        ),
    }


def _per_hour_per_endpoint(queryset, time_field: str, endpoint_field: str, now) -> dict:
    hours = _hours(now)
    rows = (
        queryset.filter(**{f"{time_field}__gte": hours[0]})
        .annotate(hour=TruncHour(time_field))
        .values("hour", endpoint_field)
        .annotate(n=Count("id"))
        .order_by()
    )
    per_endpoint: dict[str, dict] = defaultdict(dict)
    for row in rows:
        per_endpoint[row[endpoint_field] or "(unknown slug)"][row["hour"]] = row["n"]
    series = _top(per_endpoint, hours)
    return {
        "total": sum(sum(values) for values in series.values()),
        "labels": [timezone.localtime(hour).strftime("%H:00") for hour in hours],
        "series": series,
    }


def signature_failures_per_hour(now: datetime) -> dict:
    figures = _per_hour_per_endpoint(
        Delivery.objects.filter(outcome__in=SIGNATURE_FAILURES), "received_at", "slug", now
    )
    figures["chart"] = bar_chart(
        title="Signature failures per hour, by endpoint",
        labels=figures["labels"],
        series=figures["series"],
    )
    return figures


def processing_failures_per_hour(now: datetime) -> dict:
    figures = _per_hour_per_endpoint(
        ProcessingAttempt.objects.filter(outcome=AttemptOutcome.FAILED),
        "started_at",
        "event__endpoint__slug",
        now,
    )
    figures["chart"] = bar_chart(
        title="Processing failures per hour, by endpoint",
        labels=figures["labels"],
        series=figures["series"],
    )
    return figures


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def processing_latency(now: datetime) -> dict:
    """Receipt to processed, per hour: p50 and p95 of successful attempts."""
    hours = _hours(now)
    rows = (
        ProcessingAttempt.objects.filter(outcome=AttemptOutcome.SUCCEEDED, started_at__gte=hours[0])
        .order_by("-started_at")
        .values_list("finished_at", "event__received_at")[:LATENCY_SAMPLE]
    )
    per_hour: dict[datetime, list[float]] = defaultdict(list)
    for finished, received in rows:
        hour = finished.replace(minute=0, second=0, microsecond=0)
        per_hour[hour].append(max(0.0, (finished - received).total_seconds()))
    p50 = [_percentile(per_hour.get(hour, []), 0.5) for hour in hours]
    p95 = [_percentile(per_hour.get(hour, []), 0.95) for hour in hours]
    everything = [v for values in per_hour.values() for v in values]
    return {
        "p50": _percentile(everything, 0.5),
        "p95": _percentile(everything, 0.95),
        "samples": len(everything),
        "chart": line_chart(
            title="Processing latency per hour (receipt to processed)",
            labels=[timezone.localtime(hour).strftime("%H:00") for hour in hours],
            series={"p50": p50, "p95": p95},
            unit=" s",
        ),
    }


def queue_depth() -> dict:
    from core.queue import broker

    try:
        broker_depth = broker().queue_size()
    except Exception:
        broker_depth = None  # shown as unknown: the dashboard must render with a broker down
    backlog = {}
    for status in (EventStatus.PENDING, EventStatus.FAILED, EventStatus.DEAD):
        count = Event.objects.filter(status=status).order_by()[: BACKLOG_CAP + 1].count()
        backlog[status] = count
    return {"broker": broker_depth, "backlog": backlog, "cap": BACKLOG_CAP}


def open_holds() -> int:
    """Open holds of real traffic: what the review queue lists by default (test holds are
    behind its Traffic filter)."""
    return (
        HeldOrder.objects.filter(status=HoldStatus.HELD, is_test=False)
        .order_by()[: BACKLOG_CAP + 1]
        .count()
    )


def _url(name: str, **params) -> str:
    return reverse(name) + ("?" + urlencode(params) if params else "")


def failing_events(now: datetime) -> dict:
    """Events received in the last 24 hours whose processing failed and is retrying, or ran out
    of retries: the counts the events list shows for ?status=…&received=24h."""
    since = now - timedelta(hours=HOURS)
    figures = {}
    for status in (EventStatus.FAILED, EventStatus.DEAD):
        events = Event.objects.filter(status=status, received_at__gte=since).order_by()
        figures[status] = {
            "count": events[: BACKLOG_CAP + 1].count(),
            "url": _url("admin:webhooks_event_changelist", status=status, received="24h"),
        }
    return figures


def signature_failures_24h(now: datetime) -> dict:
    """Signature and key failures of the last 24 hours: what the deliveries list shows for
    ?signature=failed&received=24h."""
    failures = Delivery.objects.filter(
        outcome__in=SIGNATURE_FAILURES, received_at__gte=now - timedelta(hours=HOURS)
    ).order_by()
    return {
        "count": failures[: BACKLOG_CAP + 1].count(),
        "url": _url("admin:webhooks_delivery_changelist", signature="failed", received="24h"),
    }


def alert_url(alert: Alert) -> str:
    """The list behind an alert: its endpoint's deliveries (signature failures) or events in
    the alert's window; for a stuck backlog, the endpoint's pending events whenever they came;
    for a destination hookdesk disabled, the destination's page."""
    if alert.operational_event == OperationalEvent.DESTINATION_DISABLED:
        if alert.destination_id:
            return reverse("admin:integrations_destination_change", args=[alert.destination_id])
        return _url("admin:integrations_destination_changelist")
    scope = {"endpoint": alert.endpoint.slug} if alert.endpoint_id else {}
    kind = alert.threshold.kind
    if kind == AlertKind.OLDEST_PENDING:
        return _url("admin:webhooks_event_changelist", **scope, status=EventStatus.PENDING)
    window = {
        "received_after": (
            alert.raised_at - timedelta(minutes=alert.threshold.window_minutes)
        ).isoformat(),
        "received_before": alert.raised_at.isoformat(),
    }
    if kind == AlertKind.SIGNATURE_FAILURES:
        return _url("admin:webhooks_delivery_changelist", **scope, signature="failed", **window)
    return _url("admin:webhooks_event_changelist", **scope, **window)


def alert_link_label(alert: Alert) -> str:
    """What the link to alert_url() says."""
    if alert.operational_event == OperationalEvent.DESTINATION_DISABLED:
        return f"Destination {alert.destination.name}" if alert.destination_id else "Destinations"
    of = f" of {alert.endpoint.slug}" if alert.endpoint_id else ""
    if alert.kind == AlertKind.OLDEST_PENDING:
        return f"Events{of} still pending"
    listed = "Deliveries" if alert.kind == AlertKind.SIGNATURE_FAILURES else "Events"
    return f"{listed}{of} in the window"


def _alerts() -> list[Alert]:
    alerts = list(
        Alert.objects.filter(acknowledged_at__isnull=True)
        .select_related("threshold", "endpoint", "destination")
        .order_by("-raised_at")[:20]
    )
    for alert in alerts:
        alert.list_url = alert_url(alert)
        alert.list_label = alert_link_label(alert)
    return alerts


def _destinations(now: datetime) -> list[dict]:
    destinations = destinations_health(now=now)
    for row in destinations:
        row["deliveries_url"] = _url(
            "admin:integrations_outbounddelivery_changelist", destination__id__exact=row["id"]
        )
        for status in ("pending", "dead"):
            row[f"{status}_url"] = _url(
                "admin:integrations_outbounddelivery_changelist",
                destination__id__exact=row["id"],
                status__exact=status,
            )
    return destinations


def dashboard_figures(now: datetime | None = None) -> dict:
    now = now or timezone.now()
    return {
        "now": now,
        "alerts": _alerts(),
        "holds": holds_per_day(now),
        "open_holds": open_holds(),
        "open_holds_url": _url("admin:rules_heldorder_changelist", status__exact=HoldStatus.HELD),
        "signature_failures": signature_failures_per_hour(now),
        "signature_failures_24h": signature_failures_24h(now),
        "processing_failures": processing_failures_per_hour(now),
        "failing_events": failing_events(now),
        "latency": processing_latency(now),
        "queue": queue_depth(),
        "backlog_urls": {
            status: _url("admin:webhooks_event_changelist", status=status)
            for status in (EventStatus.PENDING, EventStatus.FAILED, EventStatus.DEAD)
        },
        "destinations": _destinations(now),
    }
