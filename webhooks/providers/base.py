"""The interface every provider scheme implements, and the values it returns."""

import hmac
import json
import math
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_EVENT_ID_LENGTH = 255
MAX_EVENT_TYPE_LENGTH = 100
# Orders store amounts as numeric(18, 4): fewer than fourteen digits before the point.
MAX_AMOUNT = Decimal(10) ** 14
MAX_JSON_DEPTH = 32
# The columns the canonical order view is stored in (orders, events, holds). A longer value is
# recorded as unknown with a note, never cut: a cut id would merge two orders.
CANONICAL_MAX_LENGTHS = {
    "order_id": 200,
    "customer_id": 200,
    "currency": 10,
    "ship_to_country": 3,
    "bill_to_country": 3,
    "payment_method": 50,
    "payment_id": 200,
    "upstream_block_id": 100,
}
# Text longer than this is not read at all: no canonical column comes near it.
MAX_READ_TEXT = 1000


class SignatureError(Exception):
    """The delivery is not authentic. `reason` is a DeliveryOutcome value; the message is safe
    to return to the sender (it never contains a secret or an expected signature)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class EnvelopeError(Exception):
    """Authentic bytes that are not a usable envelope (bad JSON, missing fields). `field`
    names the field at fault when the error is about one (`data.orderId`, `webhook-id`)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


def missing(header: str) -> SignatureError:
    return SignatureError("missing_signature", f"missing {header} header")


def malformed(header: str, why: str) -> SignatureError:
    return SignatureError("malformed_signature", f"malformed {header} header: {why}")


def invalid() -> SignatureError:
    return SignatureError("invalid_signature", "signature does not match any endpoint secret")


def out_of_tolerance(timestamp: int, now: float, tolerance: int) -> SignatureError | None:
    """The same window in both directions: a future timestamp is as suspect as an old one."""
    if abs(now - timestamp) > tolerance:
        return SignatureError(
            "timestamp_out_of_tolerance",
            f"timestamp is more than {tolerance} seconds from the server's clock",
        )
    return None


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, "sha256").digest()


def matching_secret(
    candidates: Sequence[bytes], keys: Sequence[bytes], message: bytes
) -> int | None:
    """Index of the first key whose HMAC of `message` equals one of the candidate digests.
    Every comparison is constant-time."""
    for index, key in enumerate(keys):
        expected = hmac_sha256(key, message)
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return index
    return None


def parse_unix_timestamp(value: str, header: str) -> int:
    # isdigit() accepts non-ASCII digits; only 0-9 are a timestamp.
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise malformed(header, "timestamp must be a unix time in seconds")
    return int(value)


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def parse_hex_digest(value: str, header: str) -> bytes:
    # bytes.fromhex() skips whitespace, so check the characters ourselves.
    if len(value) != 64 or not _HEX_DIGITS.issuperset(value):
        raise malformed(header, "expected 64 hex characters")
    return bytes.fromhex(value)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def load_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object. The non-standard tokens NaN and Infinity are refused: no
    sender following RFC 8259 writes them, and an amount of Infinity must not pass as unknown."""
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and UnicodeDecodeError.
        raise EnvelopeError("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise EnvelopeError("body must be a JSON object")
    return payload


def required_str(payload: Mapping[str, Any], key: str, *, max_length: int, where: str = "") -> str:
    value = payload.get(key)
    name = f"{where}{key}"
    if not isinstance(value, str) or not value.strip():
        raise EnvelopeError(f"missing or empty string field '{name}'", field=name)
    if len(value) > max_length:
        raise EnvelopeError(f"field '{name}' is longer than {max_length} characters", field=name)
    if not storable_text(value):
        raise EnvelopeError(f"field '{name}' contains characters that cannot be stored", field=name)
    return value


def storable_text(value: str) -> bool:
    """JSON escapes can spell lone surrogates and NUL, which neither UTF-8 nor a
    PostgreSQL text column accepts: such an id is a bad envelope, not a storage failure."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def required_object(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise EnvelopeError(f"missing object field '{key}'", field=key)
    return value


def optional_str(data: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip() and storable_text(value):
            return value.strip()[:MAX_READ_TEXT]
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def receipt_id(data: Mapping[str, Any], *keys: str) -> str | None:
    """An order or customer id as the order view reads it, for the event row at receipt: None
    when it would not fit the column (it is left empty, never cut)."""
    value = optional_str(data, *keys)
    if value is None or len(value) > CANONICAL_MAX_LENGTHS["order_id"]:
        return None
    return value


def optional_amount(data: Mapping[str, Any], *keys: str) -> Decimal | None:
    """The first number among `keys`, as given: OrderView records one it cannot store (too
    large, not finite) as unreadable rather than unknown, so that the rules fail closed."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float | str):
            try:
                return Decimal(str(value)[:MAX_READ_TEXT])
            except InvalidOperation:
                continue
    return None


def storable_amount(amount: Decimal) -> bool:
    """Finite and within what an order row holds once rounded to four places. A larger amount
    stays unknown, like a non-finite one, rather than failing every processing attempt."""
    if not amount.is_finite() or amount.adjusted() >= 14:
        return False
    return abs(amount.quantize(Decimal("0.0001"))) < MAX_AMOUNT


def amount_problem(amount: Decimal) -> str:
    if not amount.is_finite():
        return "not a finite number"
    return "outside what an order holds (under 10^14, four decimal places)"


def storable_json(value: Any, depth: int = 0) -> bool:
    """Whether a parsed JSON value can be stored in a PostgreSQL jsonb column: JSON bodies can
    spell NaN, Infinity, NUL and lone surrogates, which jsonb refuses."""
    if depth > MAX_JSON_DEPTH:
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return all(storable_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            storable_text(key) and storable_json(item, depth + 1) for key, item in value.items()
        )
    return True


def optional_country(data: Mapping[str, Any], *keys: str) -> str | None:
    """ISO country codes, upper-cased; a nested address object's `country` is accepted too."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("country") or value.get("country_code")
        if isinstance(value, str) and value.strip() and storable_text(value):
            return value.strip().upper()[:MAX_READ_TEXT]
    return None


@dataclass(frozen=True)
class Envelope:
    """What every scheme's envelope boils down to."""

    event_id: str | None
    event_type: str
    payload: dict[str, Any]
    #: The order and customer ids where the envelope has them at a known place, read at
    #: receipt so that an event whose processing fails can still be found by them. None when
    #: absent or too long for the event's columns. Read from the payload, so not compared.
    order_id: str | None = field(default=None, compare=False)
    customer_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OrderView:
    """The canonical order view: what hookdesk knows about an order from one event.
    Fields the event does not carry stay None (unknown), never a guess."""

    event_type: str
    order_id: str | None = None
    customer_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    ship_to_country: str | None = None
    bill_to_country: str | None = None
    payment_method: str | None = None
    payment_id: str | None = None
    upstream_block_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Fields the event carries with a value the view cannot hold, each with why: unknown to
    #: the rules like an absent field, except that a live block reading one fails closed.
    unreadable: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        # Every view is checked against its columns where it is made, so no caller can store
        # or evaluate a value that does not fit.
        unreadable = dict(self.unreadable)
        for name, limit in CANONICAL_MAX_LENGTHS.items():
            value = getattr(self, name)
            if value is not None and len(value) > limit:
                unreadable[name] = f"longer than {limit} characters"
                object.__setattr__(self, name, None)
        if self.amount is not None and not storable_amount(self.amount):
            unreadable["amount"] = amount_problem(self.amount)
            object.__setattr__(self, "amount", None)
        object.__setattr__(self, "unreadable", unreadable)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.amount is not None:
            data["amount"] = str(self.amount)
        return data


@dataclass(frozen=True)
class SampleOrder:
    """What a test webhook says about its order, for a scheme to write in its own format."""

    event_id: str
    event_type: str
    order_id: str
    amount: Decimal
    customer_id: str
    timestamp: int


class ProviderScheme(ABC):
    """One provider's wire format: how its deliveries are signed and what its envelope means."""

    name: str
    #: The provider as people name it: the choices' label and the upstream hold reason.
    label: str
    #: Provider retry/delivery headers worth recording on every delivery attempt.
    recorded_headers: tuple[str, ...] = ()
    #: The headers a delivery carries, as (name, description): the receiver's OpenAPI schema.
    signature_headers: tuple[tuple[str, str], ...] = ()
    #: Event types the provider documents (used for samples and validation messages).
    event_types: tuple[str, ...] = ()
    #: The event type of a test webhook when the operator names none.
    default_event_type: str

    def reports_upstream_hold(self, event_type: str) -> bool:
        """Whether an event of this type says the provider itself held the order."""
        return False

    def secret_key(self, secret: str) -> bytes:
        """The HMAC key a stored secret stands for."""
        return secret.encode()

    def new_secret(self) -> str:
        return "hdk_" + secrets.token_urlsafe(32)

    @abstractmethod
    def verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: float,
        tolerance: int,
    ) -> int:
        """Return the index of the secret that signed the delivery, or raise SignatureError.
        `headers` has lower-case names."""

    @abstractmethod
    def parse(self, *, body: bytes, headers: Mapping[str, str]) -> Envelope:
        """Return the envelope or raise EnvelopeError."""

    @abstractmethod
    def order_view(self, envelope: Envelope) -> OrderView:
        """The canonical order view of an envelope."""

    @abstractmethod
    def sign(
        self, *, body: bytes, secret: str, timestamp: int, event_id: str | None
    ) -> dict[str, str]:
        """The headers a sender of this scheme attaches to `body`."""

    @abstractmethod
    def sample_body(self, sample: SampleOrder) -> bytes:
        """A realistic delivery body of this scheme, for test webhooks."""

    @abstractmethod
    def outbound_envelope(
        self, *, event_id: str, event_type: str, created_at: datetime, data: dict[str, Any]
    ) -> bytes:
        """The bytes of one of hookdesk's own events (order.held/released/rejected) as a
        receiver of this scheme expects them; `data` is the event's snake-case data object."""


def iso_utc(moment: datetime) -> str:
    """A UTC time to the second, as outbound envelopes write it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def compact_json(value: Any) -> bytes:
    """JSON without spaces, non-ASCII kept as UTF-8: the bytes outbound envelopes are signed as."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
