"""Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> …`
over `<id>.<timestamp>.<raw body>`, with `whsec_<base64>` secrets."""

import base64
import binascii
import json
import secrets as random_secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from webhooks.providers.base import (
    MAX_EVENT_ID_LENGTH,
    MAX_EVENT_TYPE_LENGTH,
    Envelope,
    EnvelopeError,
    OrderView,
    ProviderScheme,
    SampleOrder,
    compact_json,
    hmac_sha256,
    invalid,
    iso_utc,
    load_json_object,
    malformed,
    matching_secret,
    missing,
    optional_amount,
    optional_country,
    optional_str,
    out_of_tolerance,
    parse_unix_timestamp,
    receipt_id,
    required_object,
    required_str,
    storable_text,
)
from webhooks.providers.registry import register_scheme

PREFIX = "whsec_"
ORDER_ID_KEYS = ("order_id", "orderId")
CUSTOMER_ID_KEYS = ("customer_id", "customerId")
MAX_SIGNATURES = 8


def parse_signatures(value: str) -> list[bytes]:
    """Space-separated `<version>,<base64>` entries; only v1 (HMAC-SHA256) is ours to check."""
    signatures = []
    for entry in value.split():
        version, sep, encoded = entry.partition(",")
        if not sep:
            raise malformed("webhook-signature", "expected v1,<base64> entries")
        if version != "v1":
            continue
        try:
            digest = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise malformed("webhook-signature", "signature is not base64") from None
        if len(digest) != 32:
            raise malformed("webhook-signature", "signature is not 32 bytes")
        signatures.append(digest)
    if not signatures:
        raise malformed("webhook-signature", "no v1 signature")
    if len(signatures) > MAX_SIGNATURES:
        raise malformed("webhook-signature", f"more than {MAX_SIGNATURES} signatures")
    return signatures


class Standard(ProviderScheme):
    name = "standard"
    label = "Standard Webhooks"
    recorded_headers = ("webhook-id", "webhook-timestamp", "user-agent", "content-type")
    signature_headers = (
        ("webhook-id", "the event id (Standard Webhooks)"),
        ("webhook-timestamp", "unix seconds, within the tolerance (300 s)"),
        (
            "webhook-signature",
            "`v1,<base64>` (space-separated, several allowed): HMAC-SHA256 of"
            " `<id>.<timestamp>.<raw body>` with the `whsec_` secret",
        ),
    )
    event_types = ("order.created", "order.held", "order.released", "order.rejected")
    default_event_type = "order.created"

    def secret_key(self, secret: str) -> bytes:
        encoded = secret.removeprefix(PREFIX)
        return base64.b64decode(encoded)

    def new_secret(self) -> str:
        return PREFIX + base64.b64encode(random_secrets.token_bytes(32)).decode()

    def verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: float,
        tolerance: int,
    ) -> int:
        event_id = headers.get("webhook-id")
        timestamp_value = headers.get("webhook-timestamp")
        value = headers.get("webhook-signature")
        if not event_id or not timestamp_value or not value:
            raise missing("webhook-id, webhook-timestamp or webhook-signature")
        if len(event_id) > MAX_EVENT_ID_LENGTH or not storable_text(event_id):
            raise malformed("webhook-id", f"not an id of at most {MAX_EVENT_ID_LENGTH} characters")
        timestamp = parse_unix_timestamp(timestamp_value.strip(), "webhook-timestamp")
        signatures = parse_signatures(value)
        if error := out_of_tolerance(timestamp, now, tolerance):
            raise error
        signed = f"{event_id}.{timestamp}.".encode() + body
        index = matching_secret(signatures, [self.secret_key(s) for s in secrets], signed)
        if index is None:
            raise invalid()
        return index

    def parse(self, *, body: bytes, headers: Mapping[str, str]) -> Envelope:
        event_id = headers.get("webhook-id")
        if not event_id:
            raise EnvelopeError("missing webhook-id header", field="webhook-id")
        # verify() refuses such ids first; parse() keeps its own promise when called alone.
        if len(event_id) > MAX_EVENT_ID_LENGTH or not storable_text(event_id):
            raise EnvelopeError(
                f"webhook-id is not an id of at most {MAX_EVENT_ID_LENGTH} characters",
                field="webhook-id",
            )
        payload = load_json_object(body)
        event_type = required_str(payload, "type", max_length=MAX_EVENT_TYPE_LENGTH)
        data = required_object(payload, "data")
        return Envelope(
            event_id=event_id,
            event_type=event_type,
            payload={**payload, "data": data},
            order_id=receipt_id(data, *ORDER_ID_KEYS),
            customer_id=receipt_id(data, *CUSTOMER_ID_KEYS),
        )

    def order_view(self, envelope: Envelope) -> OrderView:
        data = envelope.payload["data"]
        return OrderView(
            event_type=envelope.event_type,
            order_id=optional_str(data, *ORDER_ID_KEYS),
            customer_id=optional_str(data, *CUSTOMER_ID_KEYS),
            amount=optional_amount(data, "order_value", "amount", "total"),
            currency=optional_str(data, "currency"),
            ship_to_country=optional_country(data, "ship_to_country", "ship_to"),
            bill_to_country=optional_country(data, "bill_to_country", "bill_to"),
            payment_method=optional_str(data, "payment_method"),
            upstream_block_id=optional_str(data, "block_id"),
        )

    def sign(
        self, *, body: bytes, secret: str, timestamp: int, event_id: str | None
    ) -> dict[str, str]:
        if not event_id:
            raise ValueError("Standard Webhooks signatures cover an event id")
        signed = f"{event_id}.{timestamp}.".encode() + body
        digest = base64.b64encode(hmac_sha256(self.secret_key(secret), signed)).decode()
        return {
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": f"v1,{digest}",
        }

    def sample_body(self, sample: SampleOrder) -> bytes:
        return json.dumps(
            {
                "type": sample.event_type,
                "timestamp": datetime.fromtimestamp(sample.timestamp, UTC).isoformat(),
                "data": {
                    "order_id": sample.order_id,
                    "order_value": float(sample.amount),
                    "currency": "USD",
                    "customer_id": sample.customer_id,
                },
            }
        ).encode()

    def outbound_envelope(
        self, *, event_id: str, event_type: str, created_at: datetime, data: dict[str, Any]
    ) -> bytes:
        # The event id travels in the webhook-id header, which the signature covers.
        return compact_json({"type": event_type, "timestamp": iso_utc(created_at), "data": data})


register_scheme(Standard())
