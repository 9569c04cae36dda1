"""What an evidence package says of a stored event: its bytes and headers exactly as received,
and its signature checked again, now, with the secret that verified it at receipt."""

import base64
import hashlib
from typing import Any

from django.conf import settings

from core import crypto
from webhooks.models import EndpointSecret, Event
from webhooks.providers import SignatureError, get_scheme


def _candidates(event: Event) -> list[EndpointSecret]:
    """The secret recorded at receipt (Event.verified_by). Only for an event stored without
    one: every secret the endpoint has had, expired ones too (secrets are never deleted)."""
    if event.verified_by_id:
        return [event.verified_by]
    return list(EndpointSecret.objects.filter(endpoint_id=event.endpoint_id).order_by("-id"))


def event_signature_recheck(event: Event) -> dict[str, Any]:
    """{"scheme", "verified", "secret_fingerprint"}: the scheme's own verify() run again on the
    stored bytes and headers, as at the moment of receipt (its timestamp tolerance measured from
    `received_at`), with the secret that verified the delivery, even if it has since been
    rotated out or expired."""
    scheme = get_scheme(event.endpoint.provider)
    body = bytes(event.body)
    for secret in _candidates(event):
        try:
            scheme.verify(
                body=body,
                headers=event.headers,
                secrets=[crypto.decrypt(secret.encrypted)],
                now=event.received_at.timestamp(),
                tolerance=settings.HOOKDESK["TIMESTAMP_TOLERANCE_SECONDS"],
            )
        except SignatureError:
            continue
        return {"scheme": scheme.name, "verified": True, "secret_fingerprint": secret.fingerprint}
    recorded = event.verified_by.fingerprint if event.verified_by_id else None
    return {"scheme": scheme.name, "verified": False, "secret_fingerprint": recorded}


def event_evidence(event: Event) -> dict[str, Any]:
    body = bytes(event.body)
    return {
        "id": event.pk,
        "provider_event_id": event.provider_event_id,
        "event_type": event.event_type,
        "endpoint": event.endpoint.slug,
        "environment": event.endpoint.environment,
        "received_at": event.received_at.isoformat(),
        "status": event.status,
        "is_test": event.is_test,
        "body_base64": base64.b64encode(body).decode("ascii"),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_sha256_at_receipt": event.body_sha256,
        "headers": dict(event.headers),
        "signature": event_signature_recheck(event),
        "order_view": event.order_view,
    }
