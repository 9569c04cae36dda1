"""Reads for the receiver and the pipeline."""

from django.utils import timezone

from webhooks.models import Endpoint, EndpointSecret, Event


def endpoint_by_slug(slug: str) -> Endpoint | None:
    return Endpoint.objects.filter(slug=slug).first()


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
