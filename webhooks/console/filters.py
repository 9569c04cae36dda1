"""List filters for the console's big tables, and the event filter replay-by-filter reuses.

Every choice list here comes from a small table or a fixed set: a DISTINCT over a million
events on each page view is what these replace."""

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.contrib import admin
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from webhooks.models import DeliveryOutcome, Endpoint, Event, EventStatus, Provider
from webhooks.selectors import events_matching

RECENT_CHOICES = (
    ("1h", "Last hour", timedelta(hours=1)),
    ("24h", "Last 24 hours", timedelta(hours=24)),
    ("7d", "Last 7 days", timedelta(days=7)),
    ("30d", "Last 30 days", timedelta(days=30)),
)
SIGNATURE_FAILURES = (
    DeliveryOutcome.MISSING_SIGNATURE,
    DeliveryOutcome.MALFORMED_SIGNATURE,
    DeliveryOutcome.INVALID_SIGNATURE,
    DeliveryOutcome.TIMESTAMP_OUT_OF_TOLERANCE,
    DeliveryOutcome.INVALID_KEY,
)


def recent_since(code: str | None, now: datetime | None = None) -> datetime | None:
    for value, _label, span in RECENT_CHOICES:
        if value == code:
            return (now or timezone.now()) - span
    return None


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


def exact_search(queryset: QuerySet, term: str, fields: tuple[str, ...]) -> QuerySet:
    """Exact matches on indexed identifiers. The admin's own search is a case-insensitive
    substring match, which no index serves on a table of millions."""
    term = term.strip()
    if not term:
        return queryset
    query = Q()
    for field in fields:
        query |= Q(**{field: term})
    return queryset.filter(query)


EVENT_SEARCH_FIELDS = ("pk", "order_id", "customer_id")


def events_for_filters(filters: dict) -> QuerySet:
    """The events an event-list filter chose, as stored on a replay run:
    {"endpoint", "status", "event_type", "since", "until", "search"} (all optional)."""
    since = filters.get("since")
    until = filters.get("until")
    events = events_matching(
        endpoint=filters.get("endpoint") or None,
        status=filters.get("status") or None,
        event_type=filters.get("event_type") or None,
        since=parse_datetime(since) if since else None,
        until=parse_datetime(until) if until else None,
    )
    return exact_search(events, filters.get("search") or "", EVENT_SEARCH_FIELDS)


def event_filters_from_params(params, now: datetime | None = None) -> dict:
    """The replay filter that matches what the event list shows for these query parameters.
    A relative time ("last hour") is fixed to absolute times at this moment."""
    filters = {}
    for key in ("endpoint", "status", "event_type"):
        if params.get(key):
            filters[key] = params[key]
    since = recent_since(params.get("received"), now)
    if since:
        filters["since"] = since.isoformat()
    if params.get("q", "").strip():
        filters["search"] = params["q"].strip()
    return filters


class _ParamFilter(admin.SimpleListFilter):
    """A filter whose choices come from a fixed set or a small table."""

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.lookup: value}) if value else queryset


class EndpointFilter(_ParamFilter):
    title = "endpoint"
    parameter_name = "endpoint"
    lookup = "endpoint__slug"

    def lookups(self, request, model_admin):
        return [(slug, slug) for slug in Endpoint.objects.values_list("slug", flat=True)]


class EventStatusFilter(_ParamFilter):
    title = "processing status"
    parameter_name = "status"
    lookup = "status"

    def lookups(self, request, model_admin):
        return EventStatus.choices


class EventTypeFilter(_ParamFilter):
    title = "event type"
    parameter_name = "event_type"
    lookup = "event_type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in event_types_stored()]


class ReceivedFilter(admin.SimpleListFilter):
    title = "received"
    parameter_name = "received"
    field = "received_at"

    def lookups(self, request, model_admin):
        return [(value, label) for value, label, _ in RECENT_CHOICES]

    def queryset(self, request, queryset):
        since = recent_since(self.value())
        return queryset.filter(**{f"{self.field}__gte": since}) if since else queryset


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


class DeliveryOutcomeFilter(_ParamFilter):
    title = "outcome"
    parameter_name = "outcome"
    lookup = "outcome"

    def lookups(self, request, model_admin):
        return DeliveryOutcome.choices


# --- Held orders ------------------------------------------------------------------------------


class HoldProviderFilter(_ParamFilter):
    title = "provider"
    parameter_name = "provider"
    lookup = "event__endpoint__provider"

    def lookups(self, request, model_admin):
        return Provider.choices


class HoldEndpointFilter(EndpointFilter):
    lookup = "event__endpoint__slug"


class HoldEnvironmentFilter(_ParamFilter):
    title = "environment"
    parameter_name = "environment"
    lookup = "event__endpoint__environment"

    def lookups(self, request, model_admin):
        from webhooks.models import Environment

        return Environment.choices


def _decimal(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value not in (None, "") else None
    except InvalidOperation:
        return None


class AmountFilter(admin.SimpleListFilter):
    """Preset bands, plus ?amount_min= / ?amount_max= for any range."""

    title = "amount"
    parameter_name = "amount"
    BANDS = (
        ("0-1000", "Up to 1,000"),
        ("1000-5000", "1,000 to 5,000"),
        ("5000-10000", "5,000 to 10,000"),
        ("10000-50000", "10,000 to 50,000"),
        ("50000-", "Over 50,000"),
    )

    def __init__(self, request, params, model, model_admin):
        self.amount_min = _decimal(params.pop("amount_min", [None])[-1])
        self.amount_max = _decimal(params.pop("amount_max", [None])[-1])
        super().__init__(request, params, model, model_admin)

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.parameter_name, "amount_min", "amount_max"]

    def lookups(self, request, model_admin):
        return self.BANDS

    def queryset(self, request, queryset):
        low, high = self.amount_min, self.amount_max
        if self.value():
            start, _, end = self.value().partition("-")
            low, high = _decimal(start), _decimal(end)
        if low is not None:
            queryset = queryset.filter(amount__gte=low)
        if high is not None:
            queryset = queryset.filter(amount__lt=high)
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    AGES = (
        ("lt1h", "Under an hour", None, timedelta(hours=1)),
        ("lt24h", "Under a day", None, timedelta(days=1)),
        ("gt24h", "Over a day", timedelta(days=1), None),
        ("gt7d", "Over a week", timedelta(days=7), None),
    )

    def lookups(self, request, model_admin):
        return [(code, label) for code, label, _, _ in self.AGES]

    def queryset(self, request, queryset):
        now = timezone.now()
        for code, _label, older_than, younger_than in self.AGES:
            if self.value() == code:
                if older_than:
                    queryset = queryset.filter(created_at__lte=now - older_than)
                if younger_than:
                    queryset = queryset.filter(created_at__gt=now - younger_than)
        return queryset
