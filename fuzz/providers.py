"""Fuzz targets for the provider schemes: signature headers and verification, envelopes and
the canonical order view each envelope becomes."""

import base64
import contextlib
import hashlib
import hmac
import json
import string
from contextlib import contextmanager
from decimal import Decimal
from functools import cache

from django.db import connection
from hypothesis import strategies as st

from fuzz import strategies as fs
from fuzz.runner import Property, Target, require
from webhooks.providers import SCHEMES, EnvelopeError, SignatureError

TOLERANCE = 300
SIGNATURE_REASONS = frozenset(
    {"missing_signature", "malformed_signature", "invalid_signature", "timestamp_out_of_tolerance"}
)
SAMPLES = fs.sample_bodies()
_URLSAFE = string.ascii_letters + string.digits + "-_"


# --- independent signing and checking, from the providers' documentation -------------------


def _key(provider: str, secret: str) -> bytes:
    if provider == "standard":
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def _digest(provider: str, secret: str, message: bytes) -> bytes:
    return hmac.new(_key(provider, secret), message, hashlib.sha256).digest()


def reference_headers(
    provider: str, body: bytes, secret: str, timestamp: int, msg_id: str
) -> dict[str, str]:
    """The headers a sender following the provider's documentation attaches."""
    if provider == "autranex":
        digest = _digest(provider, secret, f"{timestamp}.".encode() + body).hex()
        return {"x-autranex-signature": f"t={timestamp},v1={digest}"}
    if provider == "procureiq":
        digest = _digest(provider, secret, body).hex()
        return {"x-procureiq-signature": f"sha256={digest}"}
    if provider == "automation":
        return {"x-signature": _digest(provider, secret, body).hex()}
    digest = _digest(provider, secret, f"{msg_id}.{timestamp}.".encode() + body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
    }


def signed_by(provider: str, body: bytes, headers: dict, secret: str, now: int) -> bool:
    """Whether `secret` signed this delivery, read the simplest way the documentation allows;
    what the scheme accepts must be accepted here too."""
    if provider == "autranex":
        elements = [part.strip() for part in headers["x-autranex-signature"].split(",")]
        timestamps = [part[2:] for part in elements if part.startswith("t=")]
        if len(timestamps) != 1 or not timestamps[0].isdigit():
            return False
        t = int(timestamps[0])
        expected = _digest(provider, secret, f"{t}.".encode() + body).hex()
        digests = {part[3:].lower() for part in elements if part.startswith("v1=")}
        return abs(now - t) <= TOLERANCE and expected in digests
    if provider == "procureiq":
        expected = "sha256=" + _digest(provider, secret, body).hex()
        return headers["x-procureiq-signature"].strip().lower() == expected
    if provider == "automation":
        return headers["x-signature"].strip().lower() == _digest(provider, secret, body).hex()
    msg_id, t = headers["webhook-id"], headers["webhook-timestamp"].strip()
    if not t.isdigit() or abs(now - int(t)) > TOLERANCE:
        return False
    expected = _digest(provider, secret, f"{msg_id}.{t}.".encode() + body)
    for entry in headers["webhook-signature"].split():
        version, _, encoded = entry.partition(",")
        with contextlib.suppress(ValueError):
            if version == "v1" and base64.b64decode(encoded, validate=True) == expected:
                return True
    return False


# --- signatures ---------------------------------------------------------------------------


@cache
def secrets_for(provider: str) -> st.SearchStrategy[str]:
    if provider == "standard":
        return st.binary(min_size=16, max_size=40).map(
            lambda key: "whsec_" + base64.b64encode(key).decode()
        )
    return st.text(alphabet=_URLSAFE, min_size=16, max_size=48).map(lambda text: "hdk_" + text)


_OFFSETS = st.one_of(
    st.integers(-TOLERANCE, TOLERANCE),
    st.sampled_from([-TOLERANCE - 1, TOLERANCE + 1, -(10**9), 10**9]),
    st.integers(-(10**12), 10**12),
)


_MESSAGE_IDS = st.one_of(st.just("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"), fs.wsgi_text)
_DAMAGED_BODIES = st.one_of(st.binary(max_size=64), st.just(b" "), st.just(b""))


@st.composite
def signature_inputs(draw, provider: str) -> dict:
    """A delivery signed by one of the endpoint's secrets (or by none), then possibly damaged:
    a header value edited, replaced or dropped, headers added, the body changed after signing."""
    secrets = draw(st.lists(secrets_for(provider), min_size=1, max_size=3))
    signer = draw(st.one_of(st.sampled_from(secrets), secrets_for(provider)))
    body = draw(fs.bodies(SAMPLES[provider], max_size=512))
    now = draw(st.integers(1_600_000_000, 2_000_000_000))
    timestamp = max(0, now + draw(_OFFSETS))
    msg_id = draw(_MESSAGE_IDS)
    headers = reference_headers(provider, body, signer, timestamp, msg_id)
    for name in list(headers):
        action = draw(st.sampled_from(["keep", "keep", "mutate", "replace", "drop"]))
        if action == "mutate":
            headers[name] = fs.mutate(draw, headers[name])
        elif action == "replace":
            headers[name] = draw(fs.header_values)
        elif action == "drop":
            del headers[name]
    noise = draw(fs.header_sets(provider))
    headers = {**{name.lower(): value for name, value in noise.items()}, **headers}
    if draw(st.integers(0, 3)) == 0:
        tail = draw(_DAMAGED_BODIES)
        body = body[: draw(st.integers(0, len(body)))] + tail if tail else body[:-1]
    return {"secrets": secrets, "body": body, "headers": headers, "now": now}


def check_signature(provider: str):
    scheme = SCHEMES[provider]

    def check(case: dict) -> None:
        try:
            index = scheme.verify(
                body=case["body"],
                headers=case["headers"],
                secrets=case["secrets"],
                now=case["now"],
                tolerance=TOLERANCE,
            )
        except SignatureError as error:
            require(error.reason in SIGNATURE_REASONS, f"undocumented reason {error.reason!r}")
            for secret in case["secrets"]:
                require(secret not in error.message, "the error message contains a secret")
            return
        require(0 <= index < len(case["secrets"]), f"index {index} names no secret")
        require(
            signed_by(provider, case["body"], case["headers"], case["secrets"][index], case["now"]),
            "accepted a delivery its secret did not sign",
        )

    return check


def check_authentic(provider: str):
    """An undamaged delivery signed by a live secret is always accepted, by that secret."""
    scheme = SCHEMES[provider]

    def check(case: dict) -> None:
        secrets, position = case["secrets"], case["position"]
        headers = reference_headers(
            provider, case["body"], secrets[position], case["timestamp"], case["msg_id"]
        )
        index = scheme.verify(
            body=case["body"],
            headers=headers,
            secrets=secrets,
            now=case["now"],
            tolerance=TOLERANCE,
        )
        require(secrets[index] == secrets[position], "verified by a secret that did not sign")

    return check


# Printable ids: a header cannot carry line breaks or characters beyond latin-1.
_PRINTABLE_IDS = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=100
)


@st.composite
def authentic_inputs(draw, provider: str) -> dict:
    secrets = draw(st.lists(secrets_for(provider), min_size=1, max_size=3))
    now = draw(st.integers(1_600_000_000, 2_000_000_000))
    return {
        "secrets": secrets,
        "position": draw(st.integers(0, len(secrets) - 1)),
        "body": draw(fs.bodies(SAMPLES[provider], max_size=512)),
        "now": now,
        "timestamp": now + draw(st.integers(-TOLERANCE, TOLERANCE)),
        "msg_id": draw(_PRINTABLE_IDS),
    }


def signature_target(provider: str) -> Target:
    @contextmanager
    def properties():
        yield [
            Property(
                f"{provider} damaged", signature_inputs(provider), check_signature(provider), 3
            ),
            Property(
                f"{provider} random",
                st.fixed_dictionaries(
                    {
                        "secrets": st.lists(secrets_for(provider), min_size=1, max_size=2),
                        "body": st.binary(max_size=256),
                        "headers": fs.header_sets(provider).map(
                            lambda headers: {k.lower(): v for k, v in headers.items()}
                        ),
                        "now": st.integers(0, 2**40),
                    }
                ),
                check_signature(provider),
            ),
            Property(
                f"{provider} authentic", authentic_inputs(provider), check_authentic(provider)
            ),
        ]

    return Target(
        name=f"{provider}.signature",
        weight=6,
        description=f"{provider} signature headers and verification",
        properties=properties,
    )


# --- envelopes ------------------------------------------------------------------------------


# The canonical order view is stored as JSON (Event.order_view) and its fields on the order
# row; the database, not a model of it, decides what is storable.
def _storable_in_postgresql(view) -> None:
    from rules.models import Order
    from webhooks.models import Event

    data = view.as_json()
    json_field = Event._meta.get_field("order_view")
    amount_field = Order._meta.get_field("amount")
    json_value = json_field.get_db_prep_save(data, connection)
    amount = amount_field.get_db_prep_save(view.amount, connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb, %s::numeric(18, 4)", [json_value, amount])


@st.composite
def envelope_inputs(draw, provider: str) -> dict:
    body = draw(fs.bodies(SAMPLES[provider], max_size=2048))
    headers = {}
    if provider == "standard" and draw(st.integers(0, 9)):
        headers["webhook-id"] = draw(st.one_of(st.just("msg_1"), fs.header_values))
    return {"body": body, "headers": headers}


def check_envelope(provider: str):
    scheme = SCHEMES[provider]

    def check(case: dict) -> None:
        try:
            envelope = scheme.parse(body=case["body"], headers=case["headers"])
        except EnvelopeError as error:
            require(bool(str(error)), "an envelope error without a message")
            return
        require(isinstance(envelope.event_type, str), "event type is not text")
        require(0 < len(envelope.event_type) <= 100, "event type empty or too long")
        if provider == "automation":
            require(envelope.event_id is None, "automation deliveries carry no event id")
        else:
            require(isinstance(envelope.event_id, str), "event id is not text")
            require(0 < len(envelope.event_id) <= 255, "event id empty or too long")
        view = scheme.order_view(envelope)
        require(view.event_type == envelope.event_type, "order view of another event type")
        if view.amount is not None:
            require(isinstance(view.amount, Decimal) and view.amount.is_finite(), "odd amount")
        json.dumps(view.as_json())
        _storable_in_postgresql(view)

    return check


def envelope_target(provider: str) -> Target:
    @contextmanager
    def properties():
        yield [
            Property(f"{provider} envelope", envelope_inputs(provider), check_envelope(provider))
        ]

    return Target(
        name=f"{provider}.envelope",
        weight=5,
        description=f"{provider} envelope parser and canonical order view",
        properties=properties,
    )


TARGETS = [
    *(signature_target(provider) for provider in fs.PROVIDERS),
    *(envelope_target(provider) for provider in fs.PROVIDERS),
]
