"""The four provider schemes called directly: verify, parse and the canonical order view.

No database and no HTTP: valid requests are signed with tests/signing.py (written from the
providers' documentation), never with the code under test."""

import base64
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.signing import (
    automation_headers,
    autranex_headers,
    procureiq_headers,
    standard_headers,
)
from webhooks.providers import (
    SCHEMES,
    Envelope,
    EnvelopeError,
    OrderView,
    SignatureError,
    provider_choices,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

NOW = 1_736_951_527  # 2025-01-15T14:32:07Z, the "server clock" handed to verify()
TOLERANCE = 300
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
PROVIDERS = ("autranex", "procureiq", "automation", "standard")
TIMESTAMPED = ("autranex", "standard")
REASONS = {
    "missing_signature",
    "malformed_signature",
    "invalid_signature",
    "timestamp_out_of_tolerance",
}

SECRETS = {
    "autranex": "autranex-secret-7f3a9c2e1b",
    "procureiq": "procureiq-secret-4d8e2a6c0f",
    "automation": "HeaderSecret-9b1d5f3a7c",
    "standard": "whsec_" + base64.b64encode(b"standard-webhooks-secret-32bytes").decode(),
}
OTHER_SECRETS = {
    "autranex": "autranex-other-secret-0000",
    "procureiq": "procureiq-other-secret-0000",
    "automation": "OtherHeaderSecret-000000",
    "standard": "whsec_" + base64.b64encode(b"another-standard-secret-32-bytes").decode(),
}
SIGNATURE_HEADERS = {
    "autranex": ("x-autranex-signature",),
    "procureiq": ("x-procureiq-signature",),
    "automation": ("x-signature",),
    "standard": ("webhook-id", "webhook-timestamp", "webhook-signature"),
}

# Well-formed but wrong signature values.
HEX = "ab" * 32
B64 = base64.b64encode(b"\x01" * 32).decode()


def foreign_digits(zero: int, number: int = NOW) -> str:
    """`number` written in another script's digits, which str.isdigit() also accepts."""
    return "".join(chr(zero + int(digit)) for digit in str(number))


ARABIC_INDIC_NOW = foreign_digits(0x0660)
FULLWIDTH_NOW = foreign_digits(0xFF10)

PROCUREIQ_TYPES = (
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
AUTOMATION_TYPES = (
    "OrderCreated",
    "OrderAccepted",
    "OrderSigned",
    "OrderRejected",
    "OrderCanceled",
    "OrderExpired",
    "OrderDueDateUpdated",
)


def fixture(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / f"{name}.json").read_bytes()


SAMPLES = {
    "autranex": fixture("autranex", "order.held"),
    "procureiq": fixture("procureiq", "order.created"),
    "automation": fixture("automation", "OrderAccepted"),
    "standard": fixture("standard", "order.created"),
}


def lower(headers: dict) -> dict[str, str]:
    """Header names as the schemes receive them (lower-case), without Content-Type."""
    return {name.lower(): value for name, value in headers.items() if name != "Content-Type"}


def signed(provider: str, body: bytes, secret: str, *, timestamp: int = NOW) -> dict[str, str]:
    if provider == "autranex":
        return lower(autranex_headers(body, secret, timestamp=timestamp))
    if provider == "procureiq":
        return lower(procureiq_headers(body, secret))
    if provider == "automation":
        return lower(automation_headers(body, secret))
    return lower(standard_headers(body, secret, msg_id=MSG_ID, timestamp=timestamp))


def digest(provider: str, headers: dict[str, str]) -> str:
    """The signature digest of a signed delivery, without its header syntax."""
    if provider == "autranex":
        return headers["x-autranex-signature"].split("v1=")[1]
    if provider == "procureiq":
        return headers["x-procureiq-signature"].removeprefix("sha256=")
    if provider == "automation":
        return headers["x-signature"]
    return headers["webhook-signature"].removeprefix("v1,")


def verify(
    provider: str,
    body: bytes,
    headers: dict[str, str],
    secrets: list[str] | None = None,
    *,
    tolerance: int = TOLERANCE,
) -> int:
    secrets = [SECRETS[provider]] if secrets is None else secrets
    return SCHEMES[provider].verify(
        body=body, headers=headers, secrets=secrets, now=NOW, tolerance=tolerance
    )


def refusal(provider: str, body: bytes, headers: dict[str, str], **kwargs) -> str:
    """The reason verify() gives for refusing the delivery."""
    with pytest.raises(SignatureError) as info:
        verify(provider, body, headers, **kwargs)
    return info.value.reason


def parse(provider: str, body: bytes, headers: dict[str, str] | None = None) -> Envelope:
    headers = {"webhook-id": MSG_ID} if headers is None else headers
    return SCHEMES[provider].parse(body=body, headers=headers)


def with_changes(provider: str, changes: dict) -> bytes:
    """The sample body of `provider` with top-level keys replaced (None removes a key)."""
    payload = json.loads(SAMPLES[provider])
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return json.dumps(payload).encode()


# --- verify: valid deliveries -----------------------------------------------------------


def test_it_knows_the_four_schemes():
    assert set(SCHEMES) == set(PROVIDERS)


@pytest.mark.parametrize(
    ("provider", "types"), [("procureiq", PROCUREIQ_TYPES), ("automation", AUTOMATION_TYPES)]
)
def test_it_documents_every_event_type_of_the_seeds(provider, types):
    assert set(SCHEMES[provider].event_types) == set(types)
    assert {path.stem for path in (FIXTURES / provider).glob("*.json")} == set(types)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_accepts_a_valid_signature(provider):
    body = SAMPLES[provider]
    assert verify(provider, body, signed(provider, body, SECRETS[provider])) == 0


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("position", [0, 1, 2])
def test_it_returns_the_index_of_the_secret_that_matched(provider, position):
    body = SAMPLES[provider]
    secrets = [OTHER_SECRETS[provider], OTHER_SECRETS[provider] + "-2"]
    secrets.insert(position, SECRETS[provider])

    assert verify(provider, body, signed(provider, body, SECRETS[provider]), secrets) == position


@pytest.mark.parametrize("provider", TIMESTAMPED)
@pytest.mark.parametrize("offset", [-300, -299, 0, 299, 300])
def test_it_accepts_timestamps_within_the_tolerance(provider, offset):
    body = SAMPLES[provider]
    headers = signed(provider, body, SECRETS[provider], timestamp=NOW + offset)

    assert verify(provider, body, headers) == 0


@pytest.mark.parametrize(
    "value",
    [
        "t={t},v1={wrong},v1={good}",
        "t={t},v1={good},v1={wrong}",
        "t={t},v0={wrong},v1={good}",
        "v1={wrong}, t={t}, v1={good}",
    ],
    ids=["wrong-first", "wrong-last", "unknown-scheme-ignored", "any-order-with-spaces"],
)
def test_it_accepts_several_autranex_signatures_when_one_matches(value):
    body = SAMPLES["autranex"]
    good = digest("autranex", signed("autranex", body, SECRETS["autranex"]))
    headers = {"x-autranex-signature": value.format(t=NOW, wrong=HEX, good=good)}

    assert verify("autranex", body, headers) == 0


@pytest.mark.parametrize(
    "value",
    ["v1,{wrong} v1,{good}", "v1,{good} v1,{wrong}", "v1a,{wrong} v2,{wrong} v1,{good}"],
    ids=["wrong-first", "wrong-last", "other-versions-ignored"],
)
def test_it_accepts_several_standard_signatures_when_one_matches(value):
    body = SAMPLES["standard"]
    headers = signed("standard", body, SECRETS["standard"])
    good = digest("standard", headers)
    headers["webhook-signature"] = value.format(wrong=B64, good=good)

    assert verify("standard", body, headers) == 0


@pytest.mark.parametrize("provider", ["procureiq", "automation"])
def test_it_accepts_upper_case_hex(provider):
    body = SAMPLES[provider]
    headers = signed(provider, body, SECRETS[provider])
    lower_case = digest(provider, headers)
    name = SIGNATURE_HEADERS[provider][0]
    headers[name] = headers[name].replace(lower_case, lower_case.upper())

    assert verify(provider, body, headers) == 0


# --- verify: refusals --------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "tamper",
    [
        lambda body: body + b"\n",
        lambda body: body.replace(b"ord_", b"ORD_", 1).replace(b"07c6", b"17c6", 1),
        lambda body: json.dumps(json.loads(body)).encode(),
    ],
    ids=["trailing-newline", "changed-value", "re-serialised-json"],
)
def test_it_refuses_a_tampered_body(provider, tamper):
    body = SAMPLES[provider]
    headers = signed(provider, body, SECRETS[provider])
    tampered = tamper(body)
    assert tampered != body

    assert refusal(provider, tampered, headers) == "invalid_signature"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_refuses_a_signature_made_with_another_secret(provider):
    body = SAMPLES[provider]
    headers = signed(provider, body, OTHER_SECRETS[provider])

    assert refusal(provider, body, headers) == "invalid_signature"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_refuses_everything_when_the_endpoint_has_no_live_secret(provider):
    body = SAMPLES[provider]
    headers = signed(provider, body, SECRETS[provider])

    assert refusal(provider, body, headers, secrets=[]) == "invalid_signature"


def test_it_refuses_an_autranex_signature_moved_to_another_timestamp():
    body = SAMPLES["autranex"]
    earlier = digest("autranex", signed("autranex", body, SECRETS["autranex"], timestamp=NOW - 1))
    headers = {"x-autranex-signature": f"t={NOW},v1={earlier}"}

    assert refusal("autranex", body, headers) == "invalid_signature"


@pytest.mark.parametrize(
    "changes",
    [{"webhook-id": "msg_someone_else"}, {"webhook-timestamp": str(NOW - 1)}],
    ids=["other-id", "other-timestamp"],
)
def test_it_refuses_a_standard_signature_whose_signed_headers_changed(changes):
    body = SAMPLES["standard"]
    headers = {**signed("standard", body, SECRETS["standard"]), **changes}

    assert refusal("standard", body, headers) == "invalid_signature"


@pytest.mark.parametrize(
    ("provider", "header", "value"),
    [
        ("autranex", "x-autranex-signature", None),
        ("autranex", "x-autranex-signature", ""),
        ("procureiq", "x-procureiq-signature", None),
        ("procureiq", "x-procureiq-signature", ""),
        ("automation", "x-signature", None),
        ("automation", "x-signature", ""),
        ("standard", "webhook-signature", None),
        ("standard", "webhook-signature", ""),
        ("standard", "webhook-id", None),
        ("standard", "webhook-id", ""),
        ("standard", "webhook-timestamp", None),
        ("standard", "webhook-timestamp", ""),
    ],
)
def test_it_refuses_a_missing_signature_header(provider, header, value):
    body = SAMPLES[provider]
    headers = signed(provider, body, SECRETS[provider])
    if value is None:
        del headers[header]
    else:
        headers[header] = value

    assert refusal(provider, body, headers) == "missing_signature"


MALFORMED = [
    # AUTRANEX: t=<unix>,v1=<64 hex>
    ("autranex", "x-autranex-signature", f"v1={HEX}", "no-timestamp"),
    ("autranex", "x-autranex-signature", f"t={NOW}", "no-v1"),
    ("autranex", "x-autranex-signature", f"t={NOW},v0={HEX}", "only-unknown-scheme"),
    ("autranex", "x-autranex-signature", f"t={NOW},v1={HEX[:-1]}", "hex-too-short"),
    ("autranex", "x-autranex-signature", f"t={NOW},v1={HEX}ab", "hex-too-long"),
    ("autranex", "x-autranex-signature", f"t={NOW},v1={'zz' * 32}", "not-hex"),
    ("autranex", "x-autranex-signature", f"t={NOW},v1={'é' * 64}", "non-ascii-signature"),
    ("autranex", "x-autranex-signature", f"t={ARABIC_INDIC_NOW},v1={HEX}", "arabic-indic-digits"),
    ("autranex", "x-autranex-signature", f"t={FULLWIDTH_NOW},v1={HEX}", "fullwidth-digits"),
    ("autranex", "x-autranex-signature", f"t=-{NOW},v1={HEX}", "negative-timestamp"),
    ("autranex", "x-autranex-signature", f"t={NOW}.5,v1={HEX}", "fractional-timestamp"),
    ("autranex", "x-autranex-signature", f"t=,v1={HEX}", "empty-timestamp"),
    ("autranex", "x-autranex-signature", f"t={NOW},t={NOW},v1={HEX}", "two-timestamps"),
    ("autranex", "x-autranex-signature", f"t={NOW};v1={HEX}", "semicolon-separated"),
    ("autranex", "x-autranex-signature", HEX, "bare-hex"),
    ("autranex", "x-autranex-signature", ",", "only-comma"),
    # ProcureIQ: sha256=<64 hex>
    ("procureiq", "x-procureiq-signature", HEX, "no-prefix"),
    ("procureiq", "x-procureiq-signature", f"sha1={HEX}", "other-algorithm"),
    ("procureiq", "x-procureiq-signature", "sha256=", "empty-digest"),
    ("procureiq", "x-procureiq-signature", f"sha256={HEX[:-2]}", "hex-too-short"),
    ("procureiq", "x-procureiq-signature", f"sha256={HEX}{HEX}", "hex-too-long"),
    ("procureiq", "x-procureiq-signature", f"sha256={'g' * 64}", "not-hex"),
    ("procureiq", "x-procureiq-signature", f"sha256={'ä' * 64}", "non-ascii"),
    ("procureiq", "x-procureiq-signature", f"sha256:{HEX}", "colon-separator"),
    # Automation API: <64 hex>
    ("automation", "x-signature", f"sha256={HEX}", "prefixed"),
    ("automation", "x-signature", HEX[:-1], "hex-too-short"),
    ("automation", "x-signature", HEX + "0", "hex-too-long"),
    ("automation", "x-signature", "x" * 64, "not-hex"),
    ("automation", "x-signature", foreign_digits(0x0660, 10**63), "non-ascii-digits"),
    # Standard Webhooks: v1,<base64 of 32 bytes>
    ("standard", "webhook-signature", "v1,not base64!", "not-base64"),
    ("standard", "webhook-signature", "v1,@@@@", "bad-base64-alphabet"),
    ("standard", "webhook-signature", "v1," + B64[:-2], "bad-base64-padding"),
    ("standard", "webhook-signature", "v1," + base64.b64encode(b"x" * 31).decode(), "31-bytes"),
    ("standard", "webhook-signature", "v1", "no-comma"),
    ("standard", "webhook-signature", B64, "no-version"),
    ("standard", "webhook-signature", f"v2,{B64}", "no-v1"),
    ("standard", "webhook-signature", f"v1a,{B64}", "v1-lookalike"),
    ("standard", "webhook-signature", f"v1,{'é' * 44}", "non-ascii-base64"),
    ("standard", "webhook-timestamp", "yesterday", "timestamp-not-a-number"),
    ("standard", "webhook-timestamp", ARABIC_INDIC_NOW, "timestamp-arabic-indic-digits"),
    ("standard", "webhook-timestamp", f"{NOW}.0", "timestamp-fractional"),
    ("standard", "webhook-timestamp", f"-{NOW}", "timestamp-negative"),
    ("standard", "webhook-timestamp", "9" * 40, "timestamp-huge"),
    ("standard", "webhook-id", "m" * 256, "id-overlong"),
    ("standard", "webhook-id", "msg\x00id", "id-with-nul"),
]


@pytest.mark.parametrize(
    ("provider", "header", "value"),
    [pytest.param(*case[:3], id=f"{case[0]}-{case[3]}") for case in MALFORMED],
)
def test_it_refuses_a_malformed_signature_header(provider, header, value):
    body = SAMPLES[provider]
    headers = {**signed(provider, body, SECRETS[provider]), header: value}

    assert refusal(provider, body, headers) == "malformed_signature"


@pytest.mark.parametrize(
    ("provider", "header", "template"),
    [
        ("autranex", "x-autranex-signature", f"t={NOW},v1={{}}"),
        ("procureiq", "x-procureiq-signature", "sha256={}"),
        ("automation", "x-signature", "{}"),
    ],
)
def test_it_refuses_64_hex_characters_with_whitespace_as_malformed(provider, header, template):
    body = SAMPLES[provider]
    spaced = "ab" * 30 + "  ab"  # 64 characters, 31 bytes
    headers = {**signed(provider, body, SECRETS[provider]), header: template.format(spaced)}

    assert refusal(provider, body, headers) == "malformed_signature"


@pytest.mark.parametrize("provider", TIMESTAMPED)
@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400, -NOW])
def test_it_refuses_timestamps_outside_the_tolerance(provider, offset):
    body = SAMPLES[provider]
    headers = signed(provider, body, SECRETS[provider], timestamp=NOW + offset)

    assert refusal(provider, body, headers) == "timestamp_out_of_tolerance"


@pytest.mark.parametrize("provider", TIMESTAMPED)
def test_it_honours_the_configured_tolerance(provider):
    body = SAMPLES[provider]
    headers = signed(provider, body, SECRETS[provider], timestamp=NOW - 61)

    assert refusal(provider, body, headers, tolerance=60) == "timestamp_out_of_tolerance"
    assert verify(provider, body, headers, tolerance=61) == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_never_puts_the_expected_signature_or_the_secret_in_the_error(provider):
    body = SAMPLES[provider]
    tampered = body + b" "
    sent = signed(provider, body, SECRETS[provider])
    # What the scheme computes for the bytes it received: it must not be echoed to the sender.
    expected = signed(provider, tampered, SECRETS[provider])

    with pytest.raises(SignatureError) as info:
        verify(provider, tampered, sent)

    message = f"{info.value.message} {info.value}"
    assert SECRETS[provider] not in message
    assert digest(provider, expected) not in message


# --- parse: envelopes --------------------------------------------------------------------


@pytest.mark.parametrize("name", PROCUREIQ_TYPES)
def test_it_parses_every_procureiq_envelope(name):
    body = fixture("procureiq", name)
    payload = json.loads(body)

    envelope = parse("procureiq", body)

    assert envelope == Envelope(event_id=payload["id"], event_type=name, payload=payload)


@pytest.mark.parametrize("name", AUTOMATION_TYPES)
def test_it_parses_automation_bodies_without_an_event_id(name):
    body = fixture("automation", name)

    envelope = parse("automation", body)

    assert envelope == Envelope(event_id=None, event_type=name, payload=json.loads(body))


def test_it_parses_an_autranex_envelope():
    envelope = parse("autranex", SAMPLES["autranex"])

    assert envelope.event_id == "evt_autx_01JHQ4ZK8M3N5P7R9T1V3X5Z7B"
    assert envelope.event_type == "order.held"
    assert envelope.payload == json.loads(SAMPLES["autranex"])


def test_it_takes_the_standard_event_id_from_the_webhook_id_header():
    envelope = parse("standard", SAMPLES["standard"], {"webhook-id": MSG_ID})

    assert envelope.event_id == MSG_ID
    assert envelope.event_type == "order.created"
    assert envelope.payload == json.loads(SAMPLES["standard"])


NOT_AN_OBJECT = [
    pytest.param(b"", id="empty"),
    pytest.param(b"not json", id="text"),
    pytest.param(b"{", id="truncated"),
    pytest.param(b"\xff\xfe{\x00}", id="not-utf8"),
    pytest.param(b"[]", id="empty-array"),
    pytest.param(b'[{"id": "evt_1"}]', id="array"),
    pytest.param(b'"order.created"', id="string"),
    pytest.param(b"42", id="number"),
    pytest.param(b"null", id="null"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("body", NOT_AN_OBJECT)
def test_it_refuses_a_body_that_is_not_a_json_object(provider, body):
    with pytest.raises(EnvelopeError):
        parse(provider, body)


BAD_ENVELOPES = [
    ("procureiq", {"id": None}, "no-id"),
    ("procureiq", {"id": ""}, "empty-id"),
    ("procureiq", {"id": "   "}, "blank-id"),
    ("procureiq", {"id": 10}, "numeric-id"),
    ("procureiq", {"id": "e" * 256}, "overlong-id"),
    ("procureiq", {"id": "evt\x00"}, "id-with-nul"),
    ("procureiq", {"id": "evt\ud800"}, "id-with-lone-surrogate"),
    ("procureiq", {"type": "order\x00created"}, "type-with-nul"),
    ("procureiq", {"type": None}, "no-type"),
    ("procureiq", {"type": "t" * 101}, "overlong-type"),
    ("procureiq", {"data": None}, "no-data"),
    ("procureiq", {"data": [1, 2]}, "array-data"),
    ("procureiq", {"data": "order"}, "string-data"),
    ("autranex", {"event_id": None}, "no-id"),
    ("autranex", {"event_id": ""}, "empty-id"),
    ("autranex", {"event_id": "e" * 256}, "overlong-id"),
    ("autranex", {"event_id": "evt\udfff"}, "id-with-lone-surrogate"),
    ("autranex", {"event_type": None}, "no-type"),
    ("autranex", {"event_type": ["order.held"]}, "list-type"),
    ("autranex", {"data": None}, "no-data"),
    ("autranex", {"data": []}, "array-data"),
    ("automation", {"orderId": None}, "no-order-id"),
    ("automation", {"orderId": ""}, "empty-order-id"),
    ("automation", {"eventType": None}, "no-type"),
    ("automation", {"eventType": {"name": "OrderCreated"}}, "object-type"),
    ("automation", {"eventType": "Order\x00Created"}, "type-with-nul"),
    ("standard", {"type": None}, "no-type"),
    ("standard", {"type": ""}, "empty-type"),
    ("standard", {"data": None}, "no-data"),
    ("standard", {"data": "order"}, "string-data"),
]


@pytest.mark.parametrize(
    ("provider", "changes"),
    [pytest.param(*case[:2], id=f"{case[0]}-{case[2]}") for case in BAD_ENVELOPES],
)
def test_it_refuses_an_envelope_without_its_required_fields(provider, changes):
    with pytest.raises(EnvelopeError):
        parse(provider, with_changes(provider, changes))


@pytest.mark.parametrize(("provider", "key"), [("procureiq", "id"), ("autranex", "event_id")])
def test_it_accepts_an_event_id_of_255_characters(provider, key):
    envelope = parse(provider, with_changes(provider, {key: "e" * 255}))

    assert envelope.event_id == "e" * 255


def test_it_refuses_a_standard_envelope_without_a_webhook_id():
    with pytest.raises(EnvelopeError):
        parse("standard", SAMPLES["standard"], headers={})


# --- order_view: the canonical order -----------------------------------------------------


def order_view(provider: str, body: bytes) -> OrderView:
    scheme = SCHEMES[provider]
    return scheme.order_view(scheme.parse(body=body, headers={"webhook-id": MSG_ID}))


def assert_amount(view: OrderView, expected: str | None) -> None:
    if expected is None:
        assert view.amount is None
    else:
        # Decimal("742.5") == 742.5 is True, so check the type as well as the value.
        assert isinstance(view.amount, Decimal)
        assert str(view.amount) == expected


def test_it_maps_a_procureiq_order_created_to_the_canonical_order():
    view = order_view("procureiq", fixture("procureiq", "order.created"))

    assert view.event_type == "order.created"
    assert view.order_id == "ord_01HX900A8XG6PA6MT9G8QYB101"
    assert view.customer_id == "usr_01HX8ZHQ7E8N6G3M2A1P0AB123"
    assert_amount(view, "742.5")
    assert view.currency == "USD"
    assert view.ship_to_country is None
    assert view.bill_to_country is None
    assert view.payment_method is None
    assert view.upstream_block_id is None
    assert view.extra == {"itemCount": 3}


@pytest.mark.parametrize(
    ("name", "amount", "currency", "method", "extra"),
    [
        ("payment.initiated", "742.5", "USD", "stripe", {}),
        ("payment.succeeded", None, None, None, {}),
        ("payment.failed", None, None, None, {"reason": "Card authentication failed"}),
        ("payment.refunded", "742.5", None, None, {}),
    ],
)
def test_it_maps_procureiq_payment_events(name, amount, currency, method, extra):
    view = order_view("procureiq", fixture("procureiq", name))

    assert view.event_type == name
    assert view.order_id == "ord_01HX900A8XG6PA6MT9G8QYB101"
    assert view.payment_id == "pay_01HX900QHJ0S1T8X6M5N4P3R22"
    assert view.customer_id is None
    assert_amount(view, amount)
    assert view.currency == currency
    assert view.payment_method == method
    assert view.extra == extra


@pytest.mark.parametrize(
    ("name", "customer_id"),
    [
        ("search.started", "usr_01HX8ZHQ7E8N6G3M2A1P0AB123"),
        ("product.listed", None),
        ("support.csat_submitted", None),
        ("ad.budget_exhausted", None),
    ],
)
def test_it_leaves_the_order_unknown_for_procureiq_events_without_one(name, customer_id):
    view = order_view("procureiq", fixture("procureiq", name))

    assert view.order_id is None
    assert view.amount is None
    assert view.customer_id == customer_id


def test_it_maps_an_autranex_order_held_to_the_canonical_order():
    view = order_view("autranex", SAMPLES["autranex"])

    assert view.event_type == "order.held"
    assert view.order_id == "ord_abc123"
    assert view.customer_id == "cus_8F3K2M9Q"
    assert_amount(view, "5500")
    assert view.currency == "USD"
    assert view.upstream_block_id == "blk_high_risk_over_5000"
    assert view.payment_id is None


@pytest.mark.parametrize("name", AUTOMATION_TYPES)
def test_it_maps_an_automation_event_to_its_order_id_only(name):
    view = order_view("automation", fixture("automation", name))

    assert view == OrderView(event_type=name, order_id="07c6ad8c-d1ba-4e73-9bbf-c70a085a449c")


def test_it_maps_a_standard_order_created_to_the_canonical_order():
    view = order_view("standard", SAMPLES["standard"])

    assert view.event_type == "order.created"
    assert view.order_id == "ord_std_1001"
    assert view.customer_id == "cus_std_42"
    assert_amount(view, "1250.75")
    assert view.currency == "EUR"
    assert view.ship_to_country == "DE"
    assert view.bill_to_country == "FR"
    assert view.payment_method == "card"


def test_it_serialises_the_amount_of_an_order_view_as_a_string():
    data = order_view("procureiq", fixture("procureiq", "order.created")).as_json()

    assert data["amount"] == "742.5"
    assert json.loads(json.dumps(data)) == data


# --- properties --------------------------------------------------------------------------

# Header values of any shape: arbitrary text (unicode, control characters), fragments that look
# nearly right, and values a few KB long.
any_text = st.text(max_size=200)
long_text = st.builds(
    lambda chunk, n: (chunk * n)[:5000],
    st.sampled_from(["t=1,", "v1=", "sha256=", "v1,", ",", "=", " ", "a", "é"]),
    st.integers(200, 2500),
)
hex_like = st.text(alphabet="0123456789abcdefABCDEFg ", min_size=60, max_size=68)
b64_like = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= -_",
    min_size=40,
    max_size=48,
)
timestamps = st.one_of(
    st.integers(NOW - 400, NOW + 400).map(str), st.integers().map(str), st.just(str(NOW))
)
autranex_values = st.lists(
    st.one_of(
        st.builds("t={}".format, st.one_of(timestamps, any_text)),
        st.builds("v1={}".format, st.one_of(hex_like, any_text)),
        st.builds("{}={}".format, any_text, any_text),
        any_text,
    ),
    max_size=12,
).map(",".join)
procureiq_values = st.builds(
    "{}{}".format,
    st.sampled_from(["sha256=", "sha256", "", "SHA256=", "sha1="]),
    hex_like | any_text,
)
standard_signatures = st.lists(
    st.builds("{},{}".format, st.sampled_from(["v1", "v2", "", "v1a"]), b64_like | any_text)
    | any_text,
    max_size=10,
).map(" ".join)

HEADER_VALUES = {
    "autranex": {"x-autranex-signature": st.one_of(autranex_values, any_text, long_text)},
    "procureiq": {"x-procureiq-signature": st.one_of(procureiq_values, any_text, long_text)},
    "automation": {"x-signature": st.one_of(hex_like, any_text, long_text)},
    "standard": {
        "webhook-id": st.one_of(st.just(MSG_ID), any_text, long_text),
        "webhook-timestamp": st.one_of(timestamps, any_text),
        "webhook-signature": st.one_of(standard_signatures, any_text, long_text),
    },
}


def header_sets(provider: str):
    """Any subset of the scheme's signature headers, each with any value."""
    return st.fixed_dictionaries({}, optional=HEADER_VALUES[provider])


@pytest.mark.parametrize("provider", PROVIDERS)
@given(
    data=st.data(),
    body=st.one_of(st.binary(max_size=512), st.sampled_from(tuple(SAMPLES.values()))),
)
def test_it_raises_only_signature_errors_for_any_header_values(provider, data, body):
    headers = data.draw(header_sets(provider), label="headers")

    assert refusal(provider, body, headers) in REASONS


# Text with lone surrogates too: JSON escapes (\\ud800) can spell them in any body.
any_json_text = st.text(st.characters() | st.characters(categories=["Cs"]), max_size=40)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    any_json_text,
    st.sampled_from(["742.5", "NaN", "1e999999", "-0", "Infinity", "1_000"]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
ENVELOPE_KEYS = ("id", "type", "event_id", "event_type", "orderId", "eventType", "data")
DATA_KEYS = (
    "orderId",
    "order_id",
    "userId",
    "customer_id",
    "totalAmount",
    "amount",
    "order_value",
    "currency",
    "shipToCountry",
    "ship_to",
    "billingAddress",
    "bill_to_country",
    "paymentMethod",
    "provider",
    "paymentId",
    "block_id",
    "itemCount",
)
envelope_like = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(
            ENVELOPE_KEYS, st.one_of(any_json_text, st.text(max_size=300), json_values)
        ),
        "data": st.one_of(
            st.fixed_dictionaries({}, optional=dict.fromkeys(DATA_KEYS, json_values)),
            json_values,
        ),
    },
)
any_body = st.one_of(
    st.binary(max_size=512),
    json_values.map(lambda value: json.dumps(value).encode()),
    envelope_like.map(lambda value: json.dumps(value).encode()),
)


@pytest.mark.parametrize("provider", PROVIDERS)
@given(body=any_body, event_id=st.one_of(st.just(MSG_ID), st.text(min_size=1, max_size=255)))
def test_it_parses_any_body_into_an_envelope_or_an_envelope_error(provider, body, event_id):
    scheme = SCHEMES[provider]
    try:
        envelope = scheme.parse(body=body, headers={"webhook-id": event_id})
    except EnvelopeError:
        return

    assert isinstance(envelope.event_type, str)
    assert envelope.event_type.strip()
    assert envelope.event_id is None or isinstance(envelope.event_id, str)
    assert isinstance(envelope.payload, dict)
    # What parse() accepts goes into database columns: no NUL, valid UTF-8, within the limits.
    for text, limit in ((envelope.event_type, 100), (envelope.event_id, 255)):
        if text is not None and text != event_id:
            assert "\x00" not in text
            text.encode("utf-8")
            assert len(text) <= limit
    # Whatever parse() accepts, the pipeline must be able to turn into an order view.
    view = scheme.order_view(envelope)
    assert view.amount is None or (isinstance(view.amount, Decimal) and view.amount.is_finite())
    json.dumps(view.as_json())


def standard_secrets():
    return st.binary(min_size=16, max_size=64).map(
        lambda key: "whsec_" + base64.b64encode(key).decode()
    )


def secrets_for(provider: str):
    return standard_secrets() if provider == "standard" else st.text(min_size=1, max_size=80)


event_ids = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255
)


@pytest.mark.parametrize("provider", PROVIDERS)
@given(
    data=st.data(),
    body=st.binary(max_size=2048),
    offset=st.integers(-TOLERANCE, TOLERANCE),
    event_id=event_ids,
)
def test_it_verifies_what_its_own_sign_produced(provider, data, body, offset, event_id):
    secret = data.draw(secrets_for(provider), label="secret")
    other = data.draw(secrets_for(provider).filter(lambda s: s != secret), label="other")
    scheme = SCHEMES[provider]

    headers = lower(
        scheme.sign(body=body, secret=secret, timestamp=NOW + offset, event_id=event_id)
    )

    assert verify(provider, body, headers, [other, secret]) == 1
    assert refusal(provider, body + b"x", headers, secrets=[other, secret]) == "invalid_signature"


@pytest.mark.parametrize("provider", ["autranex", "automation", "standard"])
@given(data=st.data(), body=st.binary(max_size=2048), offset=st.integers(-TOLERANCE, TOLERANCE))
def test_it_accepts_any_body_signed_as_the_provider_documents(provider, data, body, offset):
    secret = data.draw(secrets_for(provider), label="secret")

    assert (
        verify(provider, body, signed(provider, body, secret, timestamp=NOW + offset), [secret])
        == 0
    )


@given(payload=envelope_like, secret=st.text(min_size=1, max_size=80))
def test_it_accepts_any_procureiq_body_signed_as_the_provider_documents(payload, secret):
    body = json.dumps(payload).encode()

    assert verify("procureiq", body, signed("procureiq", body, secret), [secret]) == 0


# --- what each scheme knows about itself -------------------------------------------------


def test_it_offers_the_schemes_as_provider_choices_with_their_labels():
    assert dict(provider_choices()) == {
        "autranex": "AUTRANEX",
        "procureiq": "ProcureIQ",
        "automation": "Automation API",
        "standard": "Standard Webhooks",
    }


@pytest.mark.parametrize(
    ("provider", "event_type"),
    [
        ("autranex", "order.held"),
        ("procureiq", "order.created"),
        ("automation", "OrderCreated"),
        ("standard", "order.created"),
    ],
)
def test_it_sends_test_webhooks_of_a_documented_default_type(provider, event_type):
    assert SCHEMES[provider].default_event_type == event_type
    assert event_type in SCHEMES[provider].event_types


@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_knows_which_events_report_a_hold_upstream(provider):
    scheme = SCHEMES[provider]
    reporting = {t for t in (*scheme.event_types, "order.held") if scheme.reports_upstream_hold(t)}
    # Only AUTRANEX holds orders itself; Standard Webhooks' order.held is hookdesk's own event.
    assert reporting == ({"order.held"} if provider == "autranex" else set())
