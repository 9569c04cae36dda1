"""A provider that exists only in the tests: `X-Example-Signature: sha256=<hex>` over the raw
body; envelope `{"id", "kind", "order": {...}}`. It is written and registered exactly as a real
scheme in webhooks/providers/ is, to show that a provider is one module."""

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
    parse_hex_digest,
    required_object,
    required_str,
)
from webhooks.providers.registry import register_scheme

HEADER = "x-example-signature"


class ExampleCo(ProviderScheme):
    name = "exampleco"
    label = "ExampleCo"
    recorded_headers = ("user-agent", "content-type")
    event_types = ("order.placed", "order.paid")
    default_event_type = "order.placed"

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
            raise missing("X-Example-Signature")
        algorithm, sep, digest = value.strip().partition("=")
        if not sep or algorithm != "sha256":
            raise malformed("X-Example-Signature", "expected sha256=<hex>")
        candidate = parse_hex_digest(digest, "X-Example-Signature")
        index = matching_secret([candidate], [self.secret_key(s) for s in secrets], body)
        if index is None:
            raise invalid()
        return index

    def parse(self, *, body: bytes, headers: Mapping[str, str]) -> Envelope:
        payload = load_json_object(body)
        return Envelope(
            event_id=required_str(payload, "id", max_length=MAX_EVENT_ID_LENGTH),
            event_type=required_str(payload, "kind", max_length=MAX_EVENT_TYPE_LENGTH),
            payload={**payload, "order": required_object(payload, "order")},
        )

    def order_view(self, envelope: Envelope) -> OrderView:
        order = envelope.payload["order"]
        return OrderView(
            event_type=envelope.event_type,
            order_id=optional_str(order, "ref"),
            customer_id=optional_str(order, "buyer"),
            amount=optional_amount(order, "total"),
            currency=optional_str(order, "currency"),
            ship_to_country=optional_country(order, "ship_to"),
        )

    def sign(
        self, *, body: bytes, secret: str, timestamp: int, event_id: str | None
    ) -> dict[str, str]:
        return {"X-Example-Signature": "sha256=" + hmac_sha256(secret.encode(), body).hex()}

    def sample_body(self, sample: SampleOrder) -> bytes:
        order = {
            "ref": sample.order_id,
            "total": str(sample.amount),
            "currency": "USD",
            "buyer": sample.customer_id,
        }
        return json.dumps(
            {"id": sample.event_id, "kind": sample.event_type, "order": order}
        ).encode()

    def outbound_envelope(
        self, *, event_id: str, event_type: str, created_at: datetime, data: dict[str, Any]
    ) -> bytes:
        return compact_json(
            {"id": event_id, "kind": event_type, "at": iso_utc(created_at), "order": data}
        )


register_scheme(ExampleCo())
