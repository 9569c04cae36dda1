"""Fuzzing the receiver over HTTP: whatever the headers, body, slug or key, it answers with one
of 200/400/401/404/413 and a JSON body, never a 5xx and never an exception."""

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.signing import as_meta, automation_headers, autranex_headers, standard_headers
from webhooks.models import Delivery, Event

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SAMPLES = (
    (FIXTURES / "autranex" / "order.held.json").read_bytes(),
    (FIXTURES / "procureiq" / "order.created.json").read_bytes(),
    (FIXTURES / "automation" / "OrderAccepted.json").read_bytes(),
    (FIXTURES / "standard" / "order.created.json").read_bytes(),
)
PROVIDERS = ("autranex", "procureiq", "automation", "standard")
SIGNATURE_REASONS = {
    "missing_signature",
    "malformed_signature",
    "invalid_signature",
    "timestamp_out_of_tolerance",
}
LIMIT = 1024
EXAMPLES = settings(max_examples=100)

# --- strategies ---------------------------------------------------------------------------

# Unicode as a WSGI server hands it over (UTF-8 bytes decoded as latin-1), raw unicode text
# (control characters included), near-miss syntax, and values a few KB long.
wsgi_text = st.text(max_size=120).map(lambda text: text.encode().decode("latin-1"))
long_text = st.builds(
    lambda chunk, n: (chunk * n)[:5000],
    st.sampled_from(["t=1,", "v1=", "sha256=", "v1,", ",", "=", " ", "é", "\u2028"]),
    st.integers(100, 2500),
)
hex_like = st.text(alphabet="0123456789abcdefABCDEF g", min_size=60, max_size=70)
fragments = st.lists(
    st.one_of(
        st.builds("{}={}".format, st.sampled_from(["t", "v1", "v0", "sha256", " t"]), hex_like),
        st.builds("{}={}".format, st.sampled_from(["t", "v1"]), st.integers().map(str)),
        st.builds("{},{}".format, st.sampled_from(["v1", "v2", ""]), st.text(max_size=50)),
        st.text(max_size=20),
    ),
    max_size=8,
).map(lambda parts: ",".join(parts) if len(parts) % 2 else " ".join(parts))
header_values = st.one_of(st.text(max_size=200), wsgi_text, fragments, hex_like, long_text)

HEADERS = {
    "autranex": ("X-Autranex-Signature", "X-Retry-Count"),
    "procureiq": (
        "X-ProcureIQ-Signature",
        "X-ProcureIQ-Event",
        "X-ProcureIQ-Delivery",
        "X-ProcureIQ-Timestamp",
    ),
    "automation": ("X-Signature",),
    "standard": ("webhook-id", "webhook-timestamp", "webhook-signature"),
}
COMMON_HEADERS = ("User-Agent", "Content-Type")


def header_sets(provider: str):
    names = HEADERS[provider] + COMMON_HEADERS
    return st.fixed_dictionaries({}, optional=dict.fromkeys(names, header_values))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
envelopes = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        ("id", "type", "event_id", "event_type", "orderId", "eventType", "data"),
        st.text(max_size=300) | json_values,
    ),
)
bodies = st.one_of(
    st.binary(max_size=2 * LIMIT),
    st.sampled_from(SAMPLES),
    envelopes.map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
)


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def endpoints(make_endpoint, settings):
    """One endpoint per scheme, and a small body limit so the 413 path is fuzzed too."""
    settings.HOOKDESK = {**settings.HOOKDESK, "MAX_BODY_BYTES": LIMIT}
    return {provider: make_endpoint(provider) for provider in PROVIDERS}


def post(client, path: str, body: bytes, headers: dict):
    # A fuzzed Content-Type reaches the request through META; passing it as content_type
    # would make the test client re-encode the body by its charset.
    return client.post(path, data=body, content_type="application/json", **as_meta(headers))


def answer(response) -> dict:
    """The response's JSON body; every answer of the receiver has one."""
    assert response["Content-Type"] == "application/json"
    return response.json()


def signed(provider: str, body: bytes, secret: str, msg_id: str) -> dict:
    """Signatures as the providers document them, for bodies of any bytes."""
    if provider == "autranex":
        return autranex_headers(body, secret)
    if provider == "standard":
        return standard_headers(body, secret, msg_id=msg_id)
    digest = automation_headers(body, secret)["X-Signature"]  # HMAC-SHA256 of the raw body
    if provider == "procureiq":
        return {"X-ProcureIQ-Signature": f"sha256={digest}"}
    return {"X-Signature": digest}


# --- properties ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
@EXAMPLES
@given(data=st.data(), body=bodies)
def test_it_refuses_forged_deliveries_with_401_or_413(client, endpoints, provider, data, body):
    endpoint, _ = endpoints[provider]
    headers = data.draw(header_sets(provider), label="headers")
    events = Event.objects.count()

    response = post(client, endpoint.receiver_path, body, headers)

    if len(body) > LIMIT:
        assert response.status_code == 413
        assert answer(response)["reason"] == "too_large"
    else:
        assert response.status_code == 401
        assert answer(response)["reason"] in SIGNATURE_REASONS
    assert Event.objects.count() == events
    assert Delivery.objects.filter(endpoint=endpoint).latest("id").status_code == (
        response.status_code
    )


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
@EXAMPLES
@given(
    body=bodies,
    extra=st.fixed_dictionaries({}, optional=dict.fromkeys(COMMON_HEADERS[:1], header_values)),
    msg_id=st.one_of(st.just("msg_1"), st.text(min_size=1, max_size=300), wsgi_text.filter(bool)),
)
def test_it_stores_or_refuses_any_authentic_body_without_a_5xx(
    client, endpoints, provider, body, extra, msg_id
):
    endpoint, secret = endpoints[provider]
    headers = {**extra, **signed(provider, body, secret, msg_id)}

    response = post(client, endpoint.receiver_path, body, headers)

    assert response.status_code in {200, 400, 401, 413}
    result = answer(response)
    if response.status_code == 200:
        stored = Event.objects.get(pk=result["event"])
        assert result["status"] in {"received", "duplicate"}
        if result["status"] == "received":
            assert bytes(stored.body) == body
    elif response.status_code == 413:
        assert len(body) > LIMIT
    elif response.status_code == 400:
        assert result["reason"] == "bad_body"
    else:
        # Only the Standard Webhooks id travels in a header that the signature covers; an id
        # too long or unstorable is a malformed header, whatever the signature.
        assert provider == "standard"
        assert result["reason"] == "malformed_signature"


@pytest.mark.django_db
@EXAMPLES
@given(slug=st.text(max_size=150) | wsgi_text, body=st.sampled_from(SAMPLES))
def test_it_answers_404_for_any_unknown_slug(client, endpoints, slug, body):
    assume(slug not in {endpoint.slug for endpoint, _ in endpoints.values()})
    path = f"/webhooks/{quote(slug, safe='')}/"

    response = post(client, path, body, {"X-Signature": "ab" * 32})

    assert response.status_code == 404
    if "/" not in slug and slug:
        assert answer(response)["reason"] == "unknown_endpoint"


@pytest.mark.django_db
@EXAMPLES
@given(key=st.one_of(st.text(max_size=100), wsgi_text, st.just("InstallationKey-1")))
def test_it_accepts_only_the_exact_installation_key(client, make_endpoint, key):
    endpoint, secret = make_endpoint("automation", installation_key="InstallationKey-1")
    body = SAMPLES[2]

    response = post(
        client,
        f"{endpoint.receiver_path}?key={quote(key, safe='')}",
        body,
        automation_headers(body, secret),
    )

    if key == "InstallationKey-1":
        assert response.status_code == 200
        assert answer(response)["status"] == "received"
    else:
        assert response.status_code == 401
        assert answer(response)["reason"] == "invalid_key"
