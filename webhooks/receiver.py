"""The acknowledgement path: find endpoint → size check → verify → store → enqueue → respond.

Nothing here evaluates rules or calls out: a delivery is acknowledged as soon as it is durably
stored, and every attempt, accepted or not, leaves a Delivery row."""

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import crypto, plain_sql
from webhooks.models import (
    Delivery,
    DeliveryOutcome,
    Endpoint,
    EndpointSecret,
    EndpointState,
    Event,
)
from webhooks.processing import event_enqueue
from webhooks.providers import Envelope, EnvelopeError, SignatureError, get_scheme
from webhooks.selectors import endpoint_with_live_secrets
from webhooks.test_traffic import is_test_delivery

logger = logging.getLogger(__name__)

# A secret's "last verified" time is written at most this often: it tells operators whether a
# sender has switched secrets, which needs minutes, not a write on every delivery.
LAST_VERIFIED_RESOLUTION = timedelta(minutes=1)
MAX_RECORDED_HEADER_LENGTH = 200
SLUG_PATTERN = re.compile(r"[-a-zA-Z0-9_]{1,100}")


def storable(text: str) -> str:
    """Text as a database can hold it: PostgreSQL refuses NUL, UTF-8 refuses lone surrogates.
    Only for what we record about a request, never for what a signature covers."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


@dataclass(frozen=True)
class IncomingDelivery:
    """An HTTP delivery as the receiver sees it. `read_body(limit)` reads at most `limit` bytes."""

    slug: str
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    remote_addr: str | None
    content_length: int | None
    read_body: Callable[[int], bytes]
    started: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class Receipt:
    status_code: int
    body: dict


def _recorded_headers(delivery: IncomingDelivery, endpoint: Endpoint | None) -> dict[str, str]:
    names = get_scheme(endpoint.provider).recorded_headers if endpoint else ("user-agent",)
    return {
        name: storable(delivery.headers[name][:MAX_RECORDED_HEADER_LENGTH])
        for name in names
        if name in delivery.headers
    }


def _record(
    delivery: IncomingDelivery,
    *,
    endpoint: Endpoint | None,
    outcome: str,
    status_code: int,
    event: Event | None = None,
    body_bytes: int = 0,
    detail: str = "",
) -> Delivery:
    record = Delivery(
        endpoint=endpoint,
        slug=storable(delivery.slug[:100]),
        outcome=outcome,
        status_code=status_code,
        event=event,
        remote_addr=delivery.remote_addr,
        headers=_recorded_headers(delivery, endpoint),
        body_bytes=body_bytes,
        latency_ms=(time.perf_counter() - delivery.started) * 1000,
        detail=detail[:300],
    )
    plain_sql.insert(record)  # every delivery writes one: the ORM's insert costs more than it
    return record


def _refuse(
    delivery: IncomingDelivery,
    *,
    endpoint: Endpoint | None,
    outcome: str,
    status_code: int,
    message: str,
    body_bytes: int = 0,
    public_reason: str | None = None,
) -> Receipt:
    _record(
        delivery,
        endpoint=endpoint,
        outcome=outcome,
        status_code=status_code,
        body_bytes=body_bytes,
        detail=message,
    )
    return Receipt(status_code, {"error": message, "reason": public_reason or outcome})


def _installation_key_matches(endpoint: Endpoint, query: Mapping[str, str]) -> bool:
    if not endpoint.has_installation_key:
        return True
    expected = crypto.decrypt(endpoint.installation_key_encrypted).encode()
    return hmac.compare_digest(query.get("key", "").encode(), expected)


def receive(delivery: IncomingDelivery) -> Receipt:
    """Decide on one delivery. Database errors propagate: the caller answers 503."""
    endpoint, secrets = (
        endpoint_with_live_secrets(delivery.slug)
        if SLUG_PATTERN.fullmatch(delivery.slug)
        else (None, [])
    )
    if endpoint is None or endpoint.state == EndpointState.DISABLED:
        outcome = (
            DeliveryOutcome.UNKNOWN_ENDPOINT
            if endpoint is None
            else DeliveryOutcome.DISABLED_ENDPOINT
        )
        # Recorded as disabled, answered as unknown: senders learn nothing about which
        # slugs exist.
        return _refuse(
            delivery,
            endpoint=endpoint,
            outcome=outcome,
            status_code=404,
            message="unknown endpoint",
            public_reason=DeliveryOutcome.UNKNOWN_ENDPOINT,
        )

    limit = settings.HOOKDESK["MAX_BODY_BYTES"]
    too_large = _refuse_too_large(delivery, endpoint, limit, delivery.content_length or 0)
    if too_large:
        return too_large
    # Read one byte past the limit so a body without (or lying about) Content-Length is caught.
    body = delivery.read_body(limit + 1)
    if too_large := _refuse_too_large(delivery, endpoint, limit, len(body)):
        return too_large

    if not _installation_key_matches(endpoint, delivery.query):
        return _refuse(
            delivery,
            endpoint=endpoint,
            outcome=DeliveryOutcome.INVALID_KEY,
            status_code=401,
            message="wrong or missing installation key",
            body_bytes=len(body),
        )

    scheme = get_scheme(endpoint.provider)
    try:
        index = scheme.verify(
            body=body,
            headers=delivery.headers,
            secrets=[crypto.decrypt(secret.encrypted) for secret in secrets],
            now=time.time(),
            tolerance=settings.HOOKDESK["TIMESTAMP_TOLERANCE_SECONDS"],
        )
    except SignatureError as error:
        return _refuse(
            delivery,
            endpoint=endpoint,
            outcome=error.reason,
            status_code=401,
            message=error.message,
            body_bytes=len(body),
        )
    verified_by = secrets[index]

    try:
        envelope = scheme.parse(body=body, headers=delivery.headers)
    except EnvelopeError as error:
        return _refuse(
            delivery,
            endpoint=endpoint,
            outcome=DeliveryOutcome.BAD_BODY,
            status_code=400,
            message=str(error),
            body_bytes=len(body),
        )

    return _store(delivery, endpoint, verified_by, envelope, body)


def _refuse_too_large(
    delivery: IncomingDelivery, endpoint: Endpoint, limit: int, size: int
) -> Receipt | None:
    if size <= limit:
        return None
    return _refuse(
        delivery,
        endpoint=endpoint,
        outcome=DeliveryOutcome.TOO_LARGE,
        status_code=413,
        message=f"body larger than {limit} bytes",
    )


def _store(
    delivery: IncomingDelivery,
    endpoint: Endpoint,
    verified_by: EndpointSecret,
    envelope: Envelope,
    body: bytes,
) -> Receipt:
    now = timezone.now()
    provider_event_id = envelope.event_id
    event = Event(
        endpoint=endpoint,
        provider_event_id=provider_event_id,
        event_type=envelope.event_type,
        # Read from the envelope already parsed, so a failed event is found by its order;
        # processing writes them again from the order view.
        order_id=envelope.order_id or "",
        customer_id=envelope.customer_id or "",
        received_at=now,
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        headers={name: storable(value) for name, value in delivery.headers.items()},
        verified_by=verified_by,
        is_test=is_test_delivery(delivery.headers, body),
    )
    try:
        # Outermost atomic block: a unique violation rolls back this transaction only,
        # with no savepoint round trips on the common (new event) path.
        with transaction.atomic():
            plain_sql.insert(event)
            _record(
                delivery,
                endpoint=endpoint,
                outcome=DeliveryOutcome.ACCEPTED,
                status_code=200,
                event=event,
                body_bytes=len(body),
            )
            _touch_last_verified(verified_by, now)
            if endpoint.state == EndpointState.ACTIVE:
                transaction.on_commit(
                    lambda: event_enqueue(event.pk, trigger="queue", endpoint_id=endpoint.pk),
                    robust=True,
                )
    except IntegrityError:
        # The unique constraint on (endpoint, provider_event_id) fired: another delivery of
        # the same event, possibly concurrent, was stored first. Its transaction has
        # committed by the time the constraint is reported, so the lookup finds it.
        existing = Event.objects.filter(
            endpoint=endpoint, provider_event_id=provider_event_id
        ).first()
        if existing is None or provider_event_id is None:
            raise
        _record(
            delivery,
            endpoint=endpoint,
            outcome=DeliveryOutcome.DUPLICATE,
            status_code=200,
            event=existing,
            body_bytes=len(body),
        )
        return Receipt(200, {"status": "duplicate", "event": existing.pk})
    return Receipt(200, {"status": "received", "event": event.pk})


def _touch_last_verified(secret: EndpointSecret, now) -> None:
    if secret.last_verified_at and now - secret.last_verified_at < LAST_VERIFIED_RESOLUTION:
        return
    EndpointSecret.objects.filter(pk=secret.pk).update(last_verified_at=now)
