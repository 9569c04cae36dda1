"""ProcureIQ: `X-ProcureIQ-Signature: sha256=<hex>` over the raw body; envelope
`{id, type, version, created, data, metadata}`."""

import contextlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from webhooks.providers.base import (
    MAX_EVENT_ID_LENGTH,
    MAX_EVENT_TYPE_LENGTH,
    Envelope,
    OrderView,
    ProviderScheme,
    SampleOrder,
    compact_json,
    hmac_sha256,
    invalid,
    load_json_object,
    malformed,
    matching_secret,
    missing,
    optional_amount,
    optional_country,
    optional_str,
    parse_hex_digest,
    receipt_id,
    required_object,
    required_str,
    storable_json,
)
from webhooks.providers.registry import register_scheme

HEADER = "x-procureiq-signature"
ORDER_ID_KEY = "orderId"
CUSTOMER_ID_KEY = "userId"

EVENT_TYPES = (
    "search.started",
    "search.completed",
    "search.failed",
    "order.created",
    "order.confirmed",
    "order.shipped",
    "order.delivered",
    "order.cancelled",
    "payment.initiated",
    "payment.succeeded",
    "payment.failed",
    "payment.refunded",
    "product.listed",
    "product.approved",
    "product.rejected",
    "user.registered",
    "user.tier_changed",
    "support.ticket_created",
    "support.ticket_resolved",
    "support.csat_submitted",
    "ad.campaign_started",
    "ad.budget_exhausted",
)


class ProcureIQ(ProviderScheme):
    name = "procureiq"
    label = "ProcureIQ"
    recorded_headers = (
        "x-procureiq-event",
        "x-procureiq-delivery",
        "x-procureiq-timestamp",
        "user-agent",
        "content-type",
    )
    signature_headers = (
        ("X-ProcureIQ-Signature", "`sha256=<hex>`: HMAC-SHA256 of the raw body"),
        ("X-ProcureIQ-Event", "the event type"),
        ("X-ProcureIQ-Delivery", "the delivery id (recorded)"),
        ("X-ProcureIQ-Timestamp", "when the delivery was sent (recorded)"),
    )
    event_types = EVENT_TYPES
    default_event_type = "order.created"

    def verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: float,
        tolerance: int,
    ) -> int:
        # The timestamp header is not covered by the signature, so it cannot bound replays;
        # the event id (idempotency) does.
        value = headers.get(HEADER)
        if not value:
            raise missing("X-ProcureIQ-Signature")
        scheme, sep, digest = value.strip().partition("=")
        if not sep or scheme != "sha256":
            raise malformed("X-ProcureIQ-Signature", "expected sha256=<hex>")
        candidate = parse_hex_digest(digest, "X-ProcureIQ-Signature")
        index = matching_secret([candidate], [self.secret_key(s) for s in secrets], body)
        if index is None:
            raise invalid()
        return index

    def parse(self, *, body: bytes, headers: Mapping[str, str]) -> Envelope:
        payload = load_json_object(body)
        event_id = required_str(payload, "id", max_length=MAX_EVENT_ID_LENGTH)
        event_type = required_str(payload, "type", max_length=MAX_EVENT_TYPE_LENGTH)
        data = required_object(payload, "data")
        return Envelope(
            event_id=event_id,
            event_type=event_type,
            payload={**payload, "data": data},
            order_id=receipt_id(data, ORDER_ID_KEY),
            customer_id=receipt_id(data, CUSTOMER_ID_KEY),
        )

    def order_view(self, envelope: Envelope) -> OrderView:
        data = envelope.payload["data"]
        return OrderView(
            event_type=envelope.event_type,
            order_id=optional_str(data, ORDER_ID_KEY),
            customer_id=optional_str(data, CUSTOMER_ID_KEY),
            amount=optional_amount(data, "totalAmount", "amount"),
            currency=optional_str(data, "currency"),
            ship_to_country=optional_country(data, "shipToCountry", "shippingAddress"),
            bill_to_country=optional_country(data, "billToCountry", "billingAddress"),
            payment_method=optional_str(data, "paymentMethod", "provider"),
            payment_id=optional_str(data, "paymentId"),
            extra={
                key: data[key]
                for key in ("itemCount", "reason", "trackingNumber", "email", "role")
                if key in data and storable_json(data[key])
            },
        )

    def sign(
        self, *, body: bytes, secret: str, timestamp: int, event_id: str | None
    ) -> dict[str, str]:
        digest = hmac_sha256(self.secret_key(secret), body)
        headers = {
            "X-ProcureIQ-Signature": f"sha256={digest.hex()}",
            "X-ProcureIQ-Timestamp": str(timestamp),
        }
        with contextlib.suppress(ValueError, KeyError, TypeError):
            headers["X-ProcureIQ-Event"] = json.loads(body)["type"]
        if event_id:
            headers["X-ProcureIQ-Delivery"] = f"dlv_{event_id}"
        return headers

    def sample_body(self, sample: SampleOrder) -> bytes:
        data: dict = {"orderId": sample.order_id, "userId": sample.customer_id}
        if sample.event_type.startswith("payment."):
            data.update(
                paymentId=f"pay_{sample.event_id[-20:]}",
                amount=float(sample.amount),
                currency="USD",
            )
        elif sample.event_type.startswith("user."):
            data = {"userId": sample.customer_id}
        else:
            data.update(totalAmount=float(sample.amount), currency="USD", itemCount=1)
        return json.dumps(
            {
                "id": sample.event_id,
                "type": sample.event_type,
                "version": "1.0",
                "created": sample.timestamp,
                "data": data,
                "metadata": {"procureiqVersion": "1.0.0", "environment": "sandbox"},
            }
        ).encode()

    def outbound_envelope(
        self, *, event_id: str, event_type: str, created_at: datetime, data: dict[str, Any]
    ) -> bytes:
        return compact_json(
            {
                "id": event_id,
                "type": event_type,
                "version": "1.0",
                "created": int(created_at.timestamp()),
                "data": {
                    ("totalAmount" if key == "order_value" else _camel(key)): value
                    for key, value in data.items()
                },
                "metadata": {"source": "hookdesk"},
            }
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


register_scheme(ProcureIQ())
