"""Reads for the receiver and the pipeline."""

from django.utils import timezone

from webhooks.models import Endpoint, EndpointSecret


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
