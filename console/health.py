"""Liveness of the parts hookdesk needs (/healthz) and figures for Prometheus (/metrics)."""

import logging
from datetime import timedelta

from django.db import DatabaseError, connection
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django_q.models import Schedule

from core.queue import broker
from rules.models import HeldOrder
from webhooks.models import Delivery, Event
from webhooks.processing import SWEEP_SCHEDULE_NAME

logger = logging.getLogger(__name__)

# The sweep is scheduled every minute and the scheduler looks every 30 s: a next run this far
# in the past means no cluster is running the scheduler.
WORKER_STALE_AFTER = timedelta(minutes=3)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _checkbroker() -> str:
    broker().ping()
    return "ok"


def _check_worker() -> str:
    next_run = (
        Schedule.objects.filter(name=SWEEP_SCHEDULE_NAME).values_list("next_run", flat=True).first()
    )
    if next_run is None:
        return "no sweep schedule (run migrate)"
    if timezone.now() - next_run > WORKER_STALE_AFTER:
        return f"no worker cluster has run the scheduler since {next_run.isoformat()}"
    return "ok"


def healthz(request):
    checks = {}
    for name, check in (
        ("database", _check_database),
        ("broker", _checkbroker),
        ("worker", _check_worker),
    ):
        try:
            checks[name] = check()
        except Exception as error:  # any failure of a dependency is "not ready", not a 500
            logger.warning("health check %s failed: %s", name, type(error).__name__)
            checks[name] = f"failed: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                        status=200 if ready else 503)  # fmt: skip


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _lines_for(name: str, help_text: str, kind: str, samples) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{key}="{val}"' for key, val in labels.items())
        lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")
    return lines


def metrics(request):
    try:
        window = timezone.now() - timedelta(minutes=5)
        deliveries = Delivery.objects.values("outcome").annotate(n=Count("id")).order_by()
        events = Event.objects.values("status").annotate(n=Count("id")).order_by()
        holds = HeldOrder.objects.values("status").annotate(n=Count("id")).order_by()
        ack = list(
            Delivery.objects.filter(received_at__gte=window).values_list("latency_ms", flat=True)[
                :10000
            ]
        )
        processed = Event.objects.filter(processed_at__gte=window).values_list(
            "received_at", "processed_at"
        )[:10000]
        processing = [(done - got).total_seconds() for got, done in processed]
        queue_depth = broker().queue_size() or 0
    except DatabaseError:
        return HttpResponse("# database unavailable\n", status=503, content_type="text/plain")
    lines = [
        *_lines_for(
            "hookdesk_deliveries_total",
            "HTTP delivery attempts by outcome.",
            "counter",
            [({"outcome": row["outcome"]}, row["n"]) for row in deliveries],
        ),
        *_lines_for(
            "hookdesk_events",
            "Stored events by processing status.",
            "gauge",
            [({"status": row["status"]}, row["n"]) for row in events],
        ),
        *_lines_for(
            "hookdesk_holds",
            "Held orders by status.",
            "gauge",
            [({"status": row["status"]}, row["n"]) for row in holds],
        ),
        *_lines_for(
            "hookdesk_queue_depth", "Tasks waiting in the broker.", "gauge", [({}, queue_depth)]
        ),
        *_lines_for(
            "hookdesk_ack_latency_seconds",
            "Receiver decision latency over the last 5 minutes.",
            "gauge",
            [
                ({"quantile": q}, round(_percentile(ack, float(q)) / 1000, 6))
                for q in ("0.5", "0.99")
            ],
        ),
        *_lines_for(
            "hookdesk_processing_latency_seconds",
            "Receipt to processed over the last 5 minutes.",
            "gauge",
            [
                ({"quantile": q}, round(_percentile(processing, float(q)), 6))
                for q in ("0.5", "0.99")
            ],
        ),
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
