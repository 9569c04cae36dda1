"""Correctly signed sample deliveries for an endpoint, and sending them over HTTP."""

import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

import httpx

from webhooks import crypto
from webhooks.ids import ulid
from webhooks.models import Endpoint
from webhooks.providers import get_scheme
from webhooks.selectors import secrets_live

DEFAULT_EVENT_TYPES = {
    "autranex": "order.held",
    "procureiq": "order.created",
    "automation": "OrderCreated",
    "standard": "order.created",
}


@dataclass(frozen=True)
class SampleDelivery:
    path: str  # receiver path with the query string
    body: bytes
    headers: dict[str, str]
    event_type: str


def sample_delivery(
    *,
    endpoint: Endpoint,
    event_type: str | None = None,
    order_id: str | None = None,
    amount: Decimal = Decimal("5500"),
    customer_id: str | None = None,
) -> SampleDelivery:
    """A delivery signed with the endpoint's primary secret, as its provider would send it."""
    scheme = get_scheme(endpoint.provider)
    primary = secrets_live(endpoint=endpoint)[0]
    timestamp = int(time.time())
    event_id = "evt_" + ulid()
    event_type = event_type or DEFAULT_EVENT_TYPES[endpoint.provider]
    body = scheme.sample_body(
        event_id=event_id,
        event_type=event_type,
        order_id=order_id or "ord_" + secrets.token_hex(8),
        amount=amount,
        customer_id=customer_id or "cus_" + secrets.token_hex(6),
        timestamp=timestamp,
    )
    headers = {"Content-Type": "application/json", "User-Agent": "hookdesk-test-sender/1"}
    headers |= scheme.sign(
        body=body,
        secret=crypto.decrypt(primary.encrypted),
        timestamp=timestamp,
        event_id=event_id,
    )
    path = endpoint.receiver_path
    if endpoint.has_installation_key:
        path += "?" + urlencode({"key": crypto.decrypt(endpoint.installation_key_encrypted)})
    return SampleDelivery(path=path, body=body, headers=headers, event_type=event_type)


def sample_send(
    *, delivery: SampleDelivery, base_url: str, timeout: float = 10.0
) -> httpx.Response:
    """POST the delivery over real HTTP. Redirects are not followed: a receiver answers itself."""
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        return client.post(
            base_url.rstrip("/") + delivery.path, content=delivery.body, headers=delivery.headers
        )
