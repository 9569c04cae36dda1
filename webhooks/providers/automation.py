"""Automation API: `X-Signature: <hex>` over the raw body; body `{"orderId","eventType"}`,
no event id (each delivery is its own event). An optional `?key=` names the installation."""

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from webhooks.providers.base import (
    MAX_EVENT_TYPE_LENGTH,
    Envelope,
    OrderView,
    ProviderScheme,
    SampleOrder,
    compact_json,
    hmac_sha256,
    invalid,
    load_json_object,
    matching_secret,
    missing,
    parse_hex_digest,
    required_str,
)
from webhooks.providers.registry import register_scheme

HEADER = "x-signature"

EVENT_TYPES = (
    "OrderCreated",
    "OrderAccepted",
    "OrderSigned",
    "OrderRejected",
    "OrderCanceled",
    "OrderExpired",
    "OrderDueDateUpdated",
)
# hookdesk's own events as the Automation API names them.
OUTBOUND_EVENT_TYPES = {
    "order.held": "OrderHeld",
    "order.released": "OrderReleased",
    "order.rejected": "OrderRejected",
}


class Automation(ProviderScheme):
    name = "automation"
    label = "Automation API"
    recorded_headers = ("user-agent", "content-type")
    signature_headers = (("X-Signature", "`<hex>`: HMAC-SHA256 of the raw body"),)
    event_types = EVENT_TYPES
    default_event_type = "OrderCreated"

    def verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: float,
        tolerance: int,
    ) -> int:
        value = headers.get(HEADER)
        if not value:
            raise missing("X-Signature")
        candidate = parse_hex_digest(value.strip(), "X-Signature")
        index = matching_secret([candidate], [self.secret_key(s) for s in secrets], body)
        if index is None:
            raise invalid()
        return index

    def parse(self, *, body: bytes, headers: Mapping[str, str]) -> Envelope:
        payload = load_json_object(body)
        order_id = required_str(payload, "orderId", max_length=200)
        return Envelope(
            event_id=None,
            event_type=required_str(payload, "eventType", max_length=MAX_EVENT_TYPE_LENGTH),
            payload=payload,
            # The id the order view takes, as given (required and at most 200 characters).
            # The Automation API names no customer.
            order_id=order_id,
        )

    def order_view(self, envelope: Envelope) -> OrderView:
        # The webhook only says which order changed state; the order itself is fetched from
        # the Automation API, so everything but the id stays unknown here.
        return OrderView(event_type=envelope.event_type, order_id=envelope.payload["orderId"])

    def sign(
        self, *, body: bytes, secret: str, timestamp: int, event_id: str | None
    ) -> dict[str, str]:
        return {"X-Signature": hmac_sha256(self.secret_key(secret), body).hex()}

    def sample_body(self, sample: SampleOrder) -> bytes:
        return json.dumps({"orderId": sample.order_id, "eventType": sample.event_type}).encode()

    def outbound_envelope(
        self, *, event_id: str, event_type: str, created_at: datetime, data: dict[str, Any]
    ) -> bytes:
        # The Automation API's webhook only says which order changed state.
        return compact_json(
            {"orderId": data["order_id"], "eventType": OUTBOUND_EVENT_TYPES[event_type]}
        )


register_scheme(Automation())
