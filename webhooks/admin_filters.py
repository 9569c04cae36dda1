"""The event and delivery lists' filters, and the event-list parameters a replay run keeps."""

from datetime import datetime

from django.contrib import admin
from django.db import connection

from core.admin_filters import ParamFilter, received_between, recent_since
from webhooks.models import SIGNATURE_FAILURES, DeliveryOutcome, Endpoint, Event, EventStatus


def event_types_stored() -> list[str]:
    """Distinct event types, read by skipping through the (event_type, received_at) index on
    PostgreSQL: one index probe per type instead of a scan of every event."""
    if connection.vendor == "postgresql":
        table = Event._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH RECURSIVE types AS (
                    (SELECT event_type FROM {table} ORDER BY event_type LIMIT 1)
                    UNION ALL
                    SELECT (SELECT event_type FROM {table} WHERE event_type > t.event_type
                            ORDER BY event_type LIMIT 1)
                    FROM types t WHERE t.event_type IS NOT NULL
                )
                SELECT event_type FROM types WHERE event_type IS NOT NULL LIMIT 200
                """  # noqa: S608  the table name is our model's, not input
            )
            return [row[0] for row in cursor.fetchall()]
    return list(Event.objects.order_by().values_list("event_type", flat=True).distinct()[:200])


def event_filters_from_params(params, now: datetime | None = None) -> dict:
    """The replay filter that matches what the event list shows for these query parameters.
    A relative time ("last hour") is fixed to absolute times at this moment."""
    filters = {}
    for key in ("endpoint", "status", "event_type"):
        if params.get(key):
            filters[key] = params[key]
    since = recent_since(params.get("received"), now)
    after, before = received_between(params)
    # Both bounds the list applies, the later start winning.
    since = max(filter(None, (since, after)), default=None)
    if since:
        filters["since"] = since.isoformat()
    if before:
        filters["until"] = before.isoformat()
    if params.get("q", "").strip():
        filters["search"] = params["q"].strip()
    return filters


class EndpointFilter(ParamFilter):
    title = "endpoint"
    parameter_name = "endpoint"
    lookup = "endpoint__slug"

    def lookups(self, request, model_admin):
        return [(slug, slug) for slug in Endpoint.objects.values_list("slug", flat=True)]


class EventStatusFilter(ParamFilter):
    title = "processing status"
    parameter_name = "status"
    lookup = "status"

    def lookups(self, request, model_admin):
        return EventStatus.choices


class EventTypeFilter(ParamFilter):
    title = "event type"
    parameter_name = "event_type"
    lookup = "event_type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in event_types_stored()]


class SignatureFilter(admin.SimpleListFilter):
    title = "signature"
    parameter_name = "signature"

    def lookups(self, request, model_admin):
        return [
            ("verified", "Verified (accepted or duplicate)"),
            ("failed", "Failed (any signature or key failure)"),
            *[(outcome.value, outcome.label) for outcome in SIGNATURE_FAILURES],
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "verified":
            return queryset.filter(
                outcome__in=[DeliveryOutcome.ACCEPTED, DeliveryOutcome.DUPLICATE]
            )
        if value == "failed":
            return queryset.filter(outcome__in=SIGNATURE_FAILURES)
        if value in DeliveryOutcome.values:
            return queryset.filter(outcome=value)
        return queryset


class DeliveryOutcomeFilter(ParamFilter):
    title = "outcome"
    parameter_name = "outcome"
    lookup = "outcome"

    def lookups(self, request, model_admin):
        return DeliveryOutcome.choices
