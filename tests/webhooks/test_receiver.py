"""The receiver over HTTP: POST /webhooks/<slug>/ for each scheme and every answer it gives.

Requests are signed with tests/signing.py (written from the providers' documentation) and carry
the seed payloads stored under tests/fixtures/<provider>/."""

import base64
import json
import math
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import serializers
from django.db import OperationalError, connection
from django.test import Client

from tests.signing import (
    as_meta,
    automation_headers,
    autranex_headers,
    procureiq_headers,
    standard_headers,
)
from webhooks.models import Delivery, EndpointSecret, Event
from webhooks.services import secret_rotate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PROCUREIQ_FIXTURES = sorted((FIXTURES / "procureiq").glob("*.json"))
AUTOMATION_FIXTURES = sorted((FIXTURES / "automation").glob("*.json"))
SAMPLE_FILES = {
    "autranex": FIXTURES / "autranex" / "order.held.json",
    "procureiq": FIXTURES / "procureiq" / "order.created.json",
    "automation": FIXTURES / "automation" / "OrderAccepted.json",
    "standard": FIXTURES / "standard" / "order.created.json",
}
PROVIDERS = tuple(SAMPLE_FILES)
WITH_EVENT_IDS = ("autranex", "procureiq", "standard")
TIMESTAMPED = ("autranex", "standard")
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
SIGNATURE_HEADERS = {
    "autranex": "X-Autranex-Signature",
    "procureiq": "X-ProcureIQ-Signature",
    "automation": "X-Signature",
    "standard": "webhook-signature",
}

ON_POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL behaviour")


def sample(provider: str) -> bytes:
    return SAMPLE_FILES[provider].read_bytes()


def sign(
    provider: str, body: bytes, secret: str, *, timestamp: int | None = None, msg_id=MSG_ID
) -> dict:
    if provider == "autranex":
        return autranex_headers(body, secret, timestamp=timestamp)
    if provider == "procureiq":
        return procureiq_headers(body, secret, delivery="dlv_01HX9Q")
    if provider == "automation":
        return automation_headers(body, secret)
    return standard_headers(body, secret, msg_id=msg_id, timestamp=timestamp)


def post(client, path: str, body: bytes, headers: dict | None = None, **extra):
    return client.post(
        path, data=body, content_type="application/json", **as_meta(headers or {}), **extra
    )


def digest_in(value: str) -> str:
    """The digest inside a signature header value, without its `t=…,v1=`/`sha256=`/`v1,`."""
    return value.split("v1=")[-1].split("v1,")[-1].removeprefix("sha256=")


def provider_event_id(provider: str, body: bytes, headers: dict) -> str | None:
    payload = json.loads(body)
    return {
        "autranex": payload.get("event_id"),
        "procureiq": payload.get("id"),
        "automation": None,
        "standard": headers.get("webhook-id"),
    }[provider]


def event_type(provider: str, body: bytes) -> str:
    key = {"autranex": "event_type", "automation": "eventType"}.get(provider, "type")
    return json.loads(body)[key]


def assert_received(response, endpoint, body: bytes, headers: dict) -> Event:
    """200 received, the event stored byte-exact with its headers, one accepted delivery."""
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    event = Event.objects.get()
    assert response.json() == {"status": "received", "event": event.pk}
    assert event.pk.startswith("evt_")
    assert event.endpoint == endpoint
    assert bytes(event.body) == body
    assert event.provider_event_id == provider_event_id(endpoint.provider, body, headers)
    assert event.event_type == event_type(endpoint.provider, body)
    assert event.status == "pending"
    for name, value in headers.items():
        assert event.headers[name.lower()] == value
    delivery = Delivery.objects.get()
    assert delivery.outcome == "accepted"
    assert delivery.status_code == 200
    assert delivery.event == event
    assert delivery.endpoint == endpoint
    assert delivery.body_bytes == len(body)
    return event


def assert_refused(response, status: int, outcome: str) -> Delivery:
    """`status` with a JSON error, no event stored, one delivery recording the outcome."""
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    assert set(answer) == {"error", "reason"}
    assert isinstance(answer["error"], str) and answer["error"]
    assert answer["reason"] == outcome
    assert not Event.objects.exists()
    delivery = Delivery.objects.get()
    assert delivery.outcome == outcome
    assert delivery.status_code == status
    assert delivery.event is None
    return delivery


# --- accepted deliveries -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", PROCUREIQ_FIXTURES, ids=lambda path: path.stem)
def test_it_accepts_every_procureiq_event_type(client, make_endpoint, path):
    endpoint, secret = make_endpoint("procureiq")
    body = path.read_bytes()
    headers = sign("procureiq", body, secret)

    response = post(client, endpoint.receiver_path, body, headers)

    event = assert_received(response, endpoint, body, headers)
    assert event.event_type == path.stem
    assert Delivery.objects.get().headers["x-procureiq-delivery"] == "dlv_01HX9Q"


def test_it_has_a_fixture_for_each_of_the_22_procureiq_and_7_automation_event_types():
    assert len(PROCUREIQ_FIXTURES) == 22
    assert len(AUTOMATION_FIXTURES) == 7


@pytest.mark.django_db
@pytest.mark.parametrize("path", AUTOMATION_FIXTURES, ids=lambda path: path.stem)
def test_it_accepts_every_automation_order_event(client, make_endpoint, path):
    endpoint, secret = make_endpoint("automation")
    body = path.read_bytes()
    headers = sign("automation", body, secret)

    response = post(client, endpoint.receiver_path, body, headers)

    event = assert_received(response, endpoint, body, headers)
    assert event.event_type == path.stem
    assert event.provider_event_id is None


@pytest.mark.django_db
def test_it_accepts_an_autranex_order_held(client, make_endpoint):
    endpoint, secret = make_endpoint("autranex")
    body = sample("autranex")
    headers = sign("autranex", body, secret)

    response = post(client, endpoint.receiver_path, body, headers)

    event = assert_received(response, endpoint, body, headers)
    assert event.provider_event_id == "evt_autx_01JHQ4ZK8M3N5P7R9T1V3X5Z7B"
    assert event.event_type == "order.held"


@pytest.mark.django_db
def test_it_accepts_a_standard_webhook(client, make_endpoint):
    endpoint, secret = make_endpoint("standard")
    assert secret.startswith("whsec_")
    body = sample("standard")
    headers = sign("standard", body, secret)

    response = post(client, endpoint.receiver_path, body, headers)

    event = assert_received(response, endpoint, body, headers)
    assert event.provider_event_id == MSG_ID
    assert event.event_type == "order.created"


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_accepts_the_url_without_its_trailing_slash(client, make_endpoint, provider):
    endpoint, secret = make_endpoint(provider)
    body = sample(provider)
    headers = sign(provider, body, secret)
    assert endpoint.receiver_path == f"/webhooks/{endpoint.slug}/"

    response = post(client, f"/webhooks/{endpoint.slug}", body, headers)

    assert_received(response, endpoint, body, headers)


@pytest.mark.django_db
@pytest.mark.parametrize("provider", TIMESTAMPED)
# A margin for slow machines: the exact edges are unit-tested with a fixed clock.
@pytest.mark.parametrize("offset", [-290, 290])
def test_it_accepts_a_timestamp_within_the_tolerance(client, make_endpoint, provider, offset):
    endpoint, secret = make_endpoint(provider)
    body = sample(provider)
    headers = sign(provider, body, secret, timestamp=int(time.time()) + offset)

    response = post(client, endpoint.receiver_path, body, headers)

    assert_received(response, endpoint, body, headers)


@pytest.mark.django_db
@pytest.mark.parametrize("provider", WITH_EVENT_IDS)
def test_it_answers_a_redelivery_as_a_duplicate_and_does_not_queue_it_again(
    client, make_endpoint, provider, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(provider)
    body = sample(provider)
    with django_capture_on_commit_callbacks() as first_queued:
        first = post(client, endpoint.receiver_path, body, sign(provider, body, secret))
    # The provider retries later: a fresh timestamp and signature, the same event.
    retry = {**sign(provider, body, secret, timestamp=int(time.time()) + 1), "X-Retry-Count": "1"}
    with django_capture_on_commit_callbacks() as second_queued:
        second = post(client, endpoint.receiver_path, body, retry)

    event = Event.objects.get()
    assert first.status_code == 200
    assert first.json() == {"status": "received", "event": event.pk}
    assert second.status_code == 200
    assert second.json() == {"status": "duplicate", "event": event.pk}
    assert (len(first_queued), len(second_queued)) == (1, 0)
    duplicate = Delivery.objects.get(outcome="duplicate")
    assert (duplicate.status_code, duplicate.event, duplicate.endpoint) == (200, event, endpoint)
    assert Delivery.objects.filter(outcome="accepted", event=event).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("provider", WITH_EVENT_IDS)
def test_it_keeps_one_provider_event_id_apart_on_two_endpoints(client, make_endpoint, provider):
    body = sample(provider)
    answers = []
    for _ in range(2):
        endpoint, secret = make_endpoint(provider)
        response = post(client, endpoint.receiver_path, body, sign(provider, body, secret))
        answers.append(response.json())

    assert [answer["status"] for answer in answers] == ["received", "received"]
    assert answers[0]["event"] != answers[1]["event"]
    assert Event.objects.count() == 2


@pytest.mark.django_db
def test_it_stores_every_automation_delivery_as_a_new_event(client, make_endpoint):
    endpoint, secret = make_endpoint("automation")
    body = sample("automation")
    headers = sign("automation", body, secret)

    first = post(client, endpoint.receiver_path, body, headers)
    second = post(client, endpoint.receiver_path, body, headers)

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["status"] == second.json()["status"] == "received"
    assert first.json()["event"] != second.json()["event"]
    assert set(Event.objects.values_list("pk", flat=True)) == {
        first.json()["event"],
        second.json()["event"],
    }
    assert list(Delivery.objects.values_list("outcome", flat=True)) == ["accepted", "accepted"]


@pytest.mark.django_db
def test_it_accepts_the_right_installation_key(client, make_endpoint):
    endpoint, secret = make_endpoint("automation", installation_key="QueryParameterKey")
    body = sample("automation")
    headers = sign("automation", body, secret)

    response = post(client, f"{endpoint.receiver_path}?key=QueryParameterKey", body, headers)

    assert_received(response, endpoint, body, headers)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query", ["", "?key=", "?key=WrongKey", "?key=queryparameterkey", "?other=QueryParameterKey"]
)
def test_it_refuses_a_wrong_or_missing_installation_key(client, make_endpoint, query):
    endpoint, secret = make_endpoint("automation", installation_key="QueryParameterKey")
    body = sample("automation")

    response = post(client, endpoint.receiver_path + query, body, sign("automation", body, secret))

    delivery = assert_refused(response, 401, "invalid_key")
    assert delivery.endpoint == endpoint
    assert "QueryParameterKey" not in response.content.decode()


@pytest.mark.django_db
def test_it_still_checks_the_signature_when_the_installation_key_is_right(client, make_endpoint):
    endpoint, secret = make_endpoint("automation", installation_key="QueryParameterKey")
    body = sample("automation")
    headers = sign("automation", body, secret + "-not")

    response = post(client, f"{endpoint.receiver_path}?key=QueryParameterKey", body, headers)

    assert_refused(response, 401, "invalid_signature")


@pytest.mark.django_db
def test_it_ignores_a_key_when_the_endpoint_has_none(client, make_endpoint):
    endpoint, secret = make_endpoint("automation")
    body = sample("automation")
    headers = sign("automation", body, secret)

    response = post(client, f"{endpoint.receiver_path}?key=anything", body, headers)

    assert_received(response, endpoint, body, headers)


# --- refused deliveries ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "tamper",
    [lambda body: body + b"\n", lambda body: json.dumps(json.loads(body)).encode()],
    ids=["trailing-newline", "re-serialised"],
)
def test_it_refuses_a_tampered_body(client, make_endpoint, provider, tamper):
    endpoint, secret = make_endpoint(provider)
    body = sample(provider)

    response = post(client, endpoint.receiver_path, tamper(body), sign(provider, body, secret))

    delivery = assert_refused(response, 401, "invalid_signature")
    assert delivery.endpoint == endpoint


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_refuses_a_signature_made_with_another_secret(client, make_endpoint, provider):
    endpoint, _ = make_endpoint(provider)
    _, other_secret = make_endpoint(provider)
    body = sample(provider)

    response = post(client, endpoint.receiver_path, body, sign(provider, body, other_secret))

    assert_refused(response, 401, "invalid_signature")


@pytest.mark.django_db
@pytest.mark.parametrize("provider", TIMESTAMPED)
@pytest.mark.parametrize(
    "timestamp",
    [
        lambda: int(time.time()) - 301,
        lambda: math.ceil(time.time()) + 301,
        lambda: int(time.time()) - 86_400,
        lambda: 0,
    ],
    ids=["301s-old", "301s-ahead", "a-day-old", "epoch"],
)
def test_it_refuses_a_timestamp_outside_the_tolerance(client, make_endpoint, provider, timestamp):
    endpoint, secret = make_endpoint(provider)
    body = sample(provider)
    headers = sign(provider, body, secret, timestamp=timestamp())

    response = post(client, endpoint.receiver_path, body, headers)

    assert_refused(response, 401, "timestamp_out_of_tolerance")


@pytest.mark.django_db
@pytest.mark.parametrize("provider", TIMESTAMPED)
def test_it_honours_the_configured_tolerance(client, make_endpoint, settings, provider):
    settings.HOOKDESK = {**settings.HOOKDESK, "TIMESTAMP_TOLERANCE_SECONDS": 30}
    endpoint, secret = make_endpoint(provider)
    body = sample(provider)
    headers = sign(provider, body, secret, timestamp=int(time.time()) - 31)

    response = post(client, endpoint.receiver_path, body, headers)

    assert_refused(response, 401, "timestamp_out_of_tolerance")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("provider", "header"),
    [
        ("autranex", "X-Autranex-Signature"),
        ("procureiq", "X-ProcureIQ-Signature"),
        ("automation", "X-Signature"),
        ("standard", "webhook-signature"),
        ("standard", "webhook-id"),
        ("standard", "webhook-timestamp"),
    ],
)
def test_it_refuses_a_delivery_without_its_signature_header(
    client, make_endpoint, provider, header
):
    endpoint, secret = make_endpoint(provider)
    body = sample(provider)
    headers = sign(provider, body, secret)
    del headers[header]

    response = post(client, endpoint.receiver_path, body, headers)

    assert_refused(response, 401, "missing_signature")


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_refuses_an_unsigned_delivery(client, make_endpoint, provider):
    endpoint, _ = make_endpoint(provider)

    response = post(client, endpoint.receiver_path, sample(provider))

    assert_refused(response, 401, "missing_signature")


MALFORMED = [
    ("autranex", "X-Autranex-Signature", "v1=" + "ab" * 32),
    ("autranex", "X-Autranex-Signature", "t=1736951527"),
    ("autranex", "X-Autranex-Signature", "t=soon,v1=" + "ab" * 32),
    ("autranex", "X-Autranex-Signature", "t=1736951527,v1=" + "zz" * 32),
    ("autranex", "X-Autranex-Signature", "t=1736951527,v1=abc"),
    ("procureiq", "X-ProcureIQ-Signature", "ab" * 32),
    ("procureiq", "X-ProcureIQ-Signature", "sha256=" + "xy" * 32),
    ("procureiq", "X-ProcureIQ-Signature", "sha512=" + "ab" * 64),
    ("automation", "X-Signature", "sha256=" + "ab" * 32),
    ("automation", "X-Signature", "ab" * 31),
    ("standard", "webhook-signature", "v1,@@not-base64@@"),
    ("standard", "webhook-signature", "v1," + base64.b64encode(b"short").decode()),
    ("standard", "webhook-signature", "v2," + base64.b64encode(b"x" * 32).decode()),
    ("standard", "webhook-timestamp", "tomorrow"),
    ("standard", "webhook-id", "m" * 256),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("provider", "header", "value"), MALFORMED)
def test_it_refuses_a_malformed_signature_header(client, make_endpoint, provider, header, value):
    endpoint, secret = make_endpoint(provider)
    body = sample(provider)
    headers = {**sign(provider, body, secret), header: value}

    response = post(client, endpoint.receiver_path, body, headers)

    assert_refused(response, 401, "malformed_signature")


@pytest.mark.django_db
def test_it_answers_404_for_an_unknown_slug(client, make_endpoint):
    _, secret = make_endpoint("autranex")
    body = sample("autranex")

    response = post(client, "/webhooks/no-such-endpoint/", body, sign("autranex", body, secret))

    delivery = assert_refused(response, 404, "unknown_endpoint")
    assert delivery.endpoint is None
    assert delivery.slug == "no-such-endpoint"


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_answers_404_for_a_disabled_endpoint(client, make_endpoint, provider):
    endpoint, secret = make_endpoint(provider)
    endpoint.state = "disabled"
    endpoint.save()
    body = sample(provider)

    response = post(client, endpoint.receiver_path, body, sign(provider, body, secret))

    # Answered like an unknown slug, so senders learn nothing; recorded as what it was.
    assert response.status_code == 404
    assert response.json()["reason"] == "unknown_endpoint"
    assert not Event.objects.exists()
    delivery = Delivery.objects.get()
    assert (delivery.outcome, delivery.endpoint) == ("disabled_endpoint", endpoint)


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_stores_but_does_not_queue_deliveries_to_a_paused_endpoint(
    client, make_endpoint, provider, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(provider)
    endpoint.state = "paused"
    endpoint.save()
    body = sample(provider)
    headers = sign(provider, body, secret)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = post(client, endpoint.receiver_path, body, headers)

    event = assert_received(response, endpoint, body, headers)
    assert queued == []
    event.refresh_from_db()
    assert event.status == "pending"


@pytest.mark.django_db
def test_it_queues_a_delivery_to_an_active_endpoint_after_commit(
    client, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint("autranex")
    body = sample("autranex")

    with django_capture_on_commit_callbacks() as queued:
        response = post(client, endpoint.receiver_path, body, sign("autranex", body, secret))

    assert response.status_code == 200
    assert len(queued) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_answers_413_for_a_body_over_the_limit(client, make_endpoint, settings, provider):
    settings.HOOKDESK = {**settings.HOOKDESK, "MAX_BODY_BYTES": 80}
    endpoint, secret = make_endpoint(provider)
    body = sample(provider)
    assert len(body) > 80

    response = post(client, endpoint.receiver_path, body, sign(provider, body, secret))

    delivery = assert_refused(response, 413, "too_large")
    assert delivery.endpoint == endpoint


@pytest.mark.django_db
@pytest.mark.parametrize(("margin", "status"), [(0, 200), (1, 200), (-1, 413)])
def test_it_allows_a_body_of_exactly_the_limit(client, make_endpoint, settings, margin, status):
    body = sample("autranex")
    settings.HOOKDESK = {**settings.HOOKDESK, "MAX_BODY_BYTES": len(body) + margin}
    endpoint, secret = make_endpoint("autranex")

    response = post(client, endpoint.receiver_path, body, sign("autranex", body, secret))

    assert response.status_code == status
    assert Event.objects.count() == (1 if status == 200 else 0)


BAD_BODIES = [
    ("autranex", b"not json"),
    ("autranex", b"[]"),
    ("autranex", b'{"event_type":"order.held","data":{}}'),
    ("autranex", b'{"event_id":"evt_1","event_type":"order.held"}'),
    ("autranex", b'{"event_id":"' + b"e" * 256 + b'","event_type":"order.held","data":{}}'),
    ("procureiq", b"\xff\xfe"),
    ("procureiq", b'{"type":"order.created","data":{}}'),
    ("procureiq", b'{"id":"evt_1","data":{}}'),
    ("procureiq", b'{"id":"evt_1","type":"order.created","data":"none"}'),
    ("automation", b""),
    ("automation", b'{"eventType":"OrderCreated"}'),
    ("automation", b'{"orderId":"07c6ad8c-d1ba-4e73-9bbf-c70a085a449c"}'),
    ("standard", b"null"),
    ("standard", b'{"data":{}}'),
    ("standard", b'{"type":"order.created"}'),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("provider", "body"), BAD_BODIES)
def test_it_answers_400_for_a_signed_body_that_is_not_a_usable_envelope(
    client, make_endpoint, provider, body
):
    endpoint, secret = make_endpoint(provider)
    # procureiq_headers reads the type from the body, so sign these bytes the way ProcureIQ
    # does (the same HMAC over the raw body as the Automation API) without parsing them.
    if provider == "procureiq":
        digest = automation_headers(body, secret)["X-Signature"]
        headers = {"X-ProcureIQ-Signature": f"sha256={digest}"}
    else:
        headers = sign(provider, body, secret)

    response = post(client, endpoint.receiver_path, body, headers)

    delivery = assert_refused(response, 400, "bad_body")
    assert delivery.endpoint == endpoint


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_it_only_accepts_post(client, make_endpoint, method):
    endpoint, _ = make_endpoint("autranex")

    response = getattr(client, method)(endpoint.receiver_path)

    assert response.status_code == 405
    assert not Event.objects.exists()


# --- what is recorded about a delivery ---------------------------------------------------


def recorded(delivery: Delivery) -> str:
    return serializers.serialize("json", [delivery])


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("valid", [True, False], ids=["accepted", "refused"])
def test_it_never_keeps_the_body_on_the_delivery(client, make_endpoint, provider, valid):
    endpoint, secret = make_endpoint(provider)
    payload = json.loads(sample(provider))
    payload["marker"] = "UNIQUE-BODY-MARKER-4f1c"
    body = json.dumps(payload).encode()
    headers = sign(provider, body, secret)
    sent = body if valid else body.replace(b"UNIQUE", b"unique")

    response = post(client, endpoint.receiver_path, sent, headers)

    assert response.status_code == (200 if valid else 401)
    delivery = Delivery.objects.get()
    assert "UNIQUE-BODY-MARKER" not in recorded(delivery)
    assert "unique-BODY-MARKER" not in recorded(delivery)
    assert delivery.body_bytes == len(body)


@pytest.mark.django_db
@pytest.mark.parametrize("valid", [True, False], ids=["accepted", "refused"])
def test_it_records_the_autranex_retry_count(client, make_endpoint, valid):
    endpoint, secret = make_endpoint("autranex")
    body = sample("autranex")
    headers = {**sign("autranex", body, secret if valid else "wrong-secret"), "X-Retry-Count": "3"}

    post(client, endpoint.receiver_path, body, headers, REMOTE_ADDR="203.0.113.7")

    delivery = Delivery.objects.get()
    assert delivery.headers["x-retry-count"] == "3"
    assert delivery.remote_addr == "203.0.113.7"
    assert "x-autranex-signature" not in delivery.headers


@pytest.mark.django_db
def test_it_records_the_procureiq_delivery_headers(client, make_endpoint):
    endpoint, secret = make_endpoint("procureiq")
    body = sample("procureiq")
    headers = sign("procureiq", body, secret)

    post(client, endpoint.receiver_path, body, headers, REMOTE_ADDR="2001:db8::17")

    delivery = Delivery.objects.get()
    assert delivery.headers["x-procureiq-delivery"] == "dlv_01HX9Q"
    assert delivery.headers["x-procureiq-event"] == "order.created"
    assert delivery.remote_addr == "2001:db8::17"
    assert "x-procureiq-signature" not in delivery.headers


@pytest.mark.django_db
def test_it_records_no_retry_header_that_was_not_sent(client, make_endpoint):
    endpoint, secret = make_endpoint("autranex")
    body = sample("autranex")

    post(client, endpoint.receiver_path, body, sign("autranex", body, secret))

    assert "x-retry-count" not in Delivery.objects.get().headers


@pytest.mark.django_db
@pytest.mark.parametrize("valid", [True, False], ids=["accepted", "refused"])
def test_it_records_the_latency_of_every_delivery(client, make_endpoint, valid):
    endpoint, secret = make_endpoint("standard")
    body = sample("standard")
    headers = sign("standard", body, secret)
    if not valid:
        headers["webhook-id"] = "msg_forged"

    started = time.perf_counter()
    post(client, endpoint.receiver_path, body, headers)
    elapsed_ms = (time.perf_counter() - started) * 1000

    latency = Delivery.objects.get().latency_ms
    assert 0 < latency <= elapsed_ms


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_never_reveals_a_secret_in_a_response(client, make_endpoint, settings, provider):
    endpoint, secret = make_endpoint(provider, installation_key="InstallationKey-123")
    path = f"{endpoint.receiver_path}?key=InstallationKey-123"
    body = sample(provider)
    valid = sign(provider, body, secret)
    signature_header = SIGNATURE_HEADERS[provider]
    responses = [
        post(client, path, body, valid),
        post(client, path, body, valid),
        post(client, path, body + b" ", valid),
        post(client, path, body, sign(provider, body, make_endpoint(provider)[1])),
        post(client, path, body, {**valid, signature_header: "v1=" + "0" * 64}),
        post(client, path, b"{}", sign(provider, b"{}", secret)),
        post(client, endpoint.receiver_path, body, valid),
        post(client, path, body),
    ]
    settings.HOOKDESK = {**settings.HOOKDESK, "MAX_BODY_BYTES": 10}
    responses.append(post(client, path, body, valid))

    assert {response.status_code for response in responses} >= {200, 401, 413}
    secrets = [secret, secret.removeprefix("whsec_"), "InstallationKey-123"]
    # What the receiver computed for the tampered body must not be echoed either.
    expected = digest_in(sign(provider, body + b" ", secret)[signature_header])
    for response in responses:
        text = response.content.decode()
        assert not any(value in text for value in secrets)
        assert expected not in text


# --- secrets in rotation -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_accepts_the_old_and_the_new_secret_during_the_grace_window(
    client, make_endpoint, provider
):
    endpoint, old_secret = make_endpoint(provider)
    new, new_secret = secret_rotate(endpoint=endpoint, grace=timedelta(hours=1))
    old = EndpointSecret.objects.exclude(pk=new.pk).get(endpoint=endpoint)
    bodies = [sample(provider), sample(provider).replace(b"ord_", b"ord_2", 1)]
    if provider == "autranex":
        bodies[1] = bodies[1].replace(b"evt_autx_", b"evt_autx_2")
    if provider == "procureiq":
        bodies[1] = bodies[1].replace(b"evt_01HX9", b"evt_02HX9")

    by_old = post(client, endpoint.receiver_path, bodies[0], sign(provider, bodies[0], old_secret))
    by_new = post(
        client,
        endpoint.receiver_path,
        bodies[1],
        sign(provider, bodies[1], new_secret, msg_id="msg_second"),
    )

    assert (by_old.status_code, by_new.status_code) == (200, 200)
    assert Event.objects.get(pk=by_old.json()["event"]).verified_by == old
    assert Event.objects.get(pk=by_new.json()["event"]).verified_by == new
    old.refresh_from_db()
    assert old.last_verified_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_refuses_a_secret_rotated_out_without_grace(client, make_endpoint, provider):
    endpoint, old_secret = make_endpoint(provider)
    secret_rotate(endpoint=endpoint, grace=timedelta(0))
    body = sample(provider)

    response = post(client, endpoint.receiver_path, body, sign(provider, body, old_secret))

    assert_refused(response, 401, "invalid_signature")


# --- storage failures and concurrency -----------------------------------------------------


def fail_event_inserts(execute, sql, params, many, context):
    if sql.startswith('INSERT INTO "webhooks_event"'):
        raise OperationalError("simulated: the database refuses writes")
    return execute(sql, params, many, context)


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_answers_503_and_stores_nothing_when_the_event_cannot_be_stored(
    client, make_endpoint, provider, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(provider)
    body = sample(provider)

    with (
        django_capture_on_commit_callbacks() as queued,
        connection.execute_wrapper(fail_event_inserts),
    ):
        response = post(client, endpoint.receiver_path, body, sign(provider, body, secret))

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"error"}
    assert not Event.objects.exists()
    assert not Delivery.objects.exists()
    assert queued == []
    # Once the database is back, the provider's retry is stored.
    retry = post(client, endpoint.receiver_path, body, sign(provider, body, secret))
    assert retry.json() == {"status": "received", "event": Event.objects.get().pk}


@pytest.mark.django_db
def test_it_answers_503_when_a_stored_secret_cannot_be_decrypted(client, make_endpoint):
    endpoint, secret = make_endpoint("autranex")
    EndpointSecret.objects.filter(endpoint=endpoint).update(encrypted="not-a-fernet-token")
    body = sample("autranex")

    response = post(client, endpoint.receiver_path, body, sign("autranex", body, secret))

    assert response.status_code == 503
    assert set(response.json()) == {"error"}
    assert not Event.objects.exists()


@postgres_only
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider", WITH_EVENT_IDS)
def test_it_stores_concurrent_deliveries_of_one_event_once(make_endpoint, provider):
    endpoint, secret = make_endpoint(provider)
    body = sample(provider)
    headers = sign(provider, body, secret)
    senders = 6
    barrier = threading.Barrier(senders)
    answers = []

    def send():
        try:
            barrier.wait(timeout=10)
            response = post(Client(), endpoint.receiver_path, body, headers)
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    event = Event.objects.get()
    assert sorted(status for status, _ in answers) == [200] * senders
    assert sorted(answer["status"] for _, answer in answers) == ["duplicate"] * (senders - 1) + [
        "received"
    ]
    assert {answer["event"] for _, answer in answers} == {event.pk}
    assert Delivery.objects.filter(outcome="accepted").count() == 1
    assert Delivery.objects.filter(outcome="duplicate").count() == senders - 1


# --- strings a database cannot store (PostgreSQL refuses NUL, UTF-8 lone surrogates) ------


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["a%00b", "%ED%A0%80", "%C3%A9t%C3%A9", "x" * 101, "a.b"])
def test_it_answers_404_for_a_slug_no_endpoint_can_have(slug):
    response = post(Client(raise_request_exception=False), f"/webhooks/{slug}/", b"{}")

    delivery = assert_refused(response, 404, "unknown_endpoint")
    assert delivery.endpoint is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("autranex", b'{"event_id":"evt\\u0000","event_type":"order.held","data":{}}'),
        ("autranex", b'{"event_id":"evt_1","event_type":"order\\u0000held","data":{}}'),
        ("procureiq", b'{"id":"evt_\\ud800","type":"order.created","data":{}}'),
        ("automation", b'{"orderId":"07c6","eventType":"Order\\udc00Created"}'),
    ],
    ids=["autranex-nul-id", "autranex-nul-type", "procureiq-surrogate-id", "automation-surrogate"],
)
def test_it_answers_400_for_an_envelope_whose_strings_cannot_be_stored(
    make_endpoint, provider, body
):
    endpoint, secret = make_endpoint(provider)
    digest = automation_headers(body, secret)["X-Signature"]
    headers = {
        "autranex": sign("autranex", body, secret),
        "procureiq": {"X-ProcureIQ-Signature": f"sha256={digest}"},
        "automation": sign("automation", body, secret),
    }[provider]

    response = post(Client(raise_request_exception=False), endpoint.receiver_path, body, headers)

    assert_refused(response, 400, "bad_body")


@pytest.mark.django_db
def test_it_records_a_forged_delivery_with_a_nul_in_a_recorded_header(client, make_endpoint):
    # gunicorn refuses NUL in header values; other front servers may pass them through.
    endpoint, _ = make_endpoint("autranex")
    headers = {"X-Autranex-Signature": "t=1,v1=" + "ab" * 32, "X-Retry-Count": "1\x00"}

    response = post(client, endpoint.receiver_path, sample("autranex"), headers)

    delivery = assert_refused(response, 401, "timestamp_out_of_tolerance")
    assert delivery.headers["x-retry-count"].startswith("1")


@pytest.mark.django_db
def test_it_stores_an_authentic_delivery_with_a_nul_in_another_header(client, make_endpoint):
    endpoint, secret = make_endpoint("procureiq")
    body = sample("procureiq")
    headers = {**sign("procureiq", body, secret), "User-Agent": "ProcureIQ\x00/1.0"}

    response = post(client, endpoint.receiver_path, body, headers)

    assert response.status_code == 200
    assert response.json()["status"] == "received"
    assert bytes(Event.objects.get().body) == body
