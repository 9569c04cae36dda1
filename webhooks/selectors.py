"""Reads for the receiver and the pipeline."""

import functools
from datetime import timedelta

from django.db import connection
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core import plain_sql
from core.queries import exact_search
from webhooks.models import Delivery, DeliveryOutcome, Endpoint, EndpointSecret, Event


def endpoint_by_slug(slug: str) -> Endpoint | None:
    return Endpoint.objects.filter(slug=slug).first()


@functools.cache
def _endpoint_with_secrets_sql() -> str:
    # Table and column names come from the models; values are parameters.
    return (
        f"SELECT {plain_sql.columns(Endpoint, 'e')}, {plain_sql.columns(EndpointSecret, 's')}"  # noqa: S608
        f" FROM {EndpointSecret._meta.db_table} s"
        f" JOIN {Endpoint._meta.db_table} e ON e.id = s.endpoint_id"
        " WHERE e.slug = %s AND (s.expires_at IS NULL OR s.expires_at > %s)"
        " ORDER BY s.created_at DESC, s.id DESC"
    )


def endpoint_with_live_secrets(slug: str) -> tuple[Endpoint | None, list[EndpointSecret]]:
    """The endpoint and the secrets that may verify a delivery now, primary first.

    Read for every delivery, so one plain query reads both (an endpoint always has its
    primary secret; the second query is for the odd one without)."""
    with connection.cursor() as cursor:
        cursor.execute(_endpoint_with_secrets_sql(), [slug, timezone.now()])
        rows = plain_sql.instances((Endpoint, EndpointSecret), cursor.fetchall())
    if not rows:
        return endpoint_by_slug(slug), []
    endpoint = rows[0][0]
    for _, secret in rows:
        secret.endpoint = endpoint
    return endpoint, [secret for _, secret in rows]


def secrets_live(*, endpoint: Endpoint) -> list[EndpointSecret]:
    """Secrets that may verify a delivery now, primary first."""
    now = timezone.now()
    return [
        secret
        for secret in EndpointSecret.objects.filter(endpoint=endpoint).order_by(
            "-created_at", "-id"
        )
        if secret.is_live(now)
    ]


def events_matching(
    *,
    endpoint: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    since=None,
    until=None,
):
    """Events by the filters operators use for replay and in the admin."""
    events = Event.objects.all()
    if endpoint:
        events = events.filter(endpoint__slug=endpoint)
    if status:
        events = events.filter(status=status)
    if event_type:
        events = events.filter(event_type=event_type)
    if since:
        events = events.filter(received_at__gte=since)
    if until:
        events = events.filter(received_at__lt=until)
    return events


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


ENDPOINT_FIGURES_WINDOW = timedelta(hours=24)


def endpoints_delivery_figures(*, endpoint_ids, now=None) -> dict[int, dict]:
    """For a page of endpoints, in one query: each one's last delivery and its deliveries of the
    last 24 hours, all and refused (anything but accepted or duplicate). Every figure is a
    range of the (endpoint, -received_at) index, never a scan of the deliveries."""
    since = (now or timezone.now()) - ENDPOINT_FIGURES_WINDOW
    recent = (
        Delivery.objects.filter(endpoint=OuterRef("pk"), received_at__gte=since)
        .order_by()
        .values("endpoint")
    )
    refused = recent.exclude(outcome__in=[DeliveryOutcome.ACCEPTED, DeliveryOutcome.DUPLICATE])
    rows = Endpoint.objects.filter(pk__in=list(endpoint_ids)).annotate(
        last_delivery_at=Subquery(
            Delivery.objects.filter(endpoint=OuterRef("pk"))
            .order_by("-received_at")
            .values("received_at")[:1]
        ),
        deliveries_24h=Subquery(recent.annotate(n=Count("pk")).values("n")),
        refused_24h=Subquery(refused.annotate(n=Count("pk")).values("n")),
    )
    return {
        row["pk"]: {
            "last_delivery_at": row["last_delivery_at"],
            "deliveries_24h": row["deliveries_24h"] or 0,
            "refused_24h": row["refused_24h"] or 0,
        }
        for row in rows.values("pk", "last_delivery_at", "deliveries_24h", "refused_24h")
    }
