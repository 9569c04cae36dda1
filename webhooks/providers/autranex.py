"""AUTRANEX: `X-Autranex-Signature: t=<unix>,v1=<hex>` over `<t>.<raw body>`."""

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
    iso_utc,
    load_json_object,
    malformed,
    matching_secret,
    missing,
    optional_amount,
    optional_country,
    optional_str,
    out_of_tolerance,
    parse_hex_digest,
    parse_unix_timestamp,
    receipt_id,
    required_object,
    required_str,
)
from webhooks.providers.registry import register_scheme

HEADER = "x-autranex-signature"
MAX_SIGNATURES = 8


def parse_signature_header(value: str) -> tuple[int, list[bytes]]:
    """`t=<unix>,v1=<hex>[,v1=<hex>…]`; unknown schemes (v0=…) are ignored."""
    timestamp: int | None = None
    signatures: list[bytes] = []
    for element in value.split(","):
        key, sep, item = element.strip().partition("=")
        if not sep:
            raise malformed(HEADER, "expected comma-separated key=value pairs")
        if key == "t":
            if timestamp is not None:
                raise malformed(HEADER, "more than one timestamp")
            timestamp = parse_unix_timestamp(item, HEADER)
        elif key == "v1":
            signatures.append(parse_hex_digest(item, HEADER))
    if timestamp is None:
        raise malformed(HEADER, "no t= timestamp")
    if not signatures:
        raise malformed(HEADER, "no v1= signature")
    if len(signatures) > MAX_SIGNATURES:
        raise malformed(HEADER, f"more than {MAX_SIGNATURES} signatures")
    return timestamp, signatures


class Autranex(ProviderScheme):
    name = "autranex"
    label = "AUTRANEX"
    recorded_headers = ("x-retry-count", "user-agent", "content-type")
    signature_headers = (
        (
            "X-Autranex-Signature",
            "`t=<unix>,v1=<hex>` (several `v1=` allowed): HMAC-SHA256 of `<t>.<raw body>`;"
            " `t` within the tolerance (300 s) in the past or future",
        ),
        ("X-Retry-Count", "the sender's retry count (recorded)"),
    )
    event_types = ("order.held", "order.released", "order.rejected", "order.created")
    default_event_type = "order.held"

    def reports_upstream_hold(self, event_type: str) -> bool:
        # AUTRANEX holds orders itself and says so with order.held.
        return event_type == "order.held"

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
            raise missing("X-Autranex-Signature")
        timestamp, signatures = parse_signature_header(value)
        if error := out_of_tolerance(timestamp, now, tolerance):
            raise error
        signed = str(timestamp).encode() + b"." + body
        index = matching_secret(signatures, [self.secret_key(s) for s in secrets], signed)
        if index is None:
            raise invalid()
        return index

    def parse(self, *, body: bytes, headers: Mapping[str, str]) -> Envelope:
        payload = load_json_object(body)
        event_id = required_str(payload, "event_id", max_length=MAX_EVENT_ID_LENGTH)
        event_type = required_str(payload, "event_type", max_length=MAX_EVENT_TYPE_LENGTH)
        data = required_object(payload, "data")
        return Envelope(
            event_id=event_id,
            event_type=event_type,
            payload={**payload, "data": data},
            order_id=receipt_id(data, "order_id"),
            customer_id=receipt_id(data, "customer_id"),
        )

    def order_view(self, envelope: Envelope) -> OrderView:
        data = envelope.payload["data"]
        return OrderView(
            event_type=envelope.event_type,
            order_id=optional_str(data, "order_id"),
            customer_id=optional_str(data, "customer_id"),
            amount=optional_amount(data, "order_value", "amount"),
            currency=optional_str(data, "currency"),
            ship_to_country=optional_country(data, "ship_to_country", "ship_to"),
            bill_to_country=optional_country(data, "bill_to_country", "bill_to"),
            payment_method=optional_str(data, "payment_method"),
            upstream_block_id=optional_str(data, "block_id"),
        )

    def sign(
        self, *, body: bytes, secret: str, timestamp: int, event_id: str | None
    ) -> dict[str, str]:
        digest = hmac_sha256(self.secret_key(secret), f"{timestamp}.".encode() + body)
        return {"X-Autranex-Signature": f"t={timestamp},v1={digest.hex()}"}

    def sample_body(self, sample: SampleOrder) -> bytes:
        return json.dumps(
            {
                "event_id": sample.event_id,
                "event_type": sample.event_type,
                "created_at": sample.timestamp,
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
        return compact_json(
            {
                "event_id": event_id,
                "event_type": event_type,
                "created_at": iso_utc(created_at),
                "data": data,
            }
        )


register_scheme(Autranex())
