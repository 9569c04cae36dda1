"""The test-webhook helper (API and admin): a signed sample handed in process to this console's
own receiver, which decides on it as on any delivery; no web worker waits on another."""

import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from core.tokens import api_token_issue
from tests import postgres
from tests.signing import autranex_headers
from tests.support.queue import queued_event_ids
from webhooks import views
from webhooks.models import Delivery, DeliveryOutcome, Endpoint, EndpointState, Event
from webhooks.samples import sample_delivery, sample_receive

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ("autranex", "procureiq", "automation", "standard")


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user)}")
    return client


@pytest.fixture
def root(db):
    return User.objects.create_superuser("helper-root", password="root-pass-0123")


@pytest.fixture
def operator(root):
    return _token_client(root)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def two_web_workers(transactional_db, tmp_path):
    """The console under gunicorn with two sync workers, as `make run` starts it, on the test
    database: two requests at a time, the situation of the reported deadlock."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": postgres.test_database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "PORT": str(port),  # as `make run` sets it for the console it starts
    }
    env.pop("REDIS_URL", None)  # enqueue on the test database's ORM broker, as this process does
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115  closed below
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
               "--workers", "2", "--worker-class", "sync", "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/api/schema/", timeout=5)
            break
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail((tmp_path / "gunicorn.log").read_text()[-2000:])
            time.sleep(0.2)
    yield url
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    log.close()


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


@postgres.requires_postgres()  # the server processes reach the test database by its PostgreSQL URL
@pytest.mark.parametrize("calls", [2, 6])
def test_it_answers_concurrent_helper_calls_on_two_web_workers(
    two_web_workers, make_endpoint, calls
):
    endpoint, _ = make_endpoint("autranex")
    provider_endpoint, provider_secret = make_endpoint("autranex")
    user = User.objects.create_superuser("burst-root", password="root-pass-0123")
    auth = {"Authorization": f"Token {api_token_issue(user=user)}"}
    body = (b'{"event_id":"evt_provider_1","event_type":"order.created",'
            b'"data":{"order_id":"ord_provider_1","order_value":10}}')  # fmt: skip

    def helper_call():
        with httpx.Client(base_url=two_web_workers, timeout=30) as client:
            return client.post(
                "/api/v2/test/webhook", json={"endpoint": endpoint.slug}, headers=auth
            )

    def provider_delivery():
        with httpx.Client(base_url=two_web_workers, timeout=30) as client:
            return client.post(
                provider_endpoint.receiver_path,
                content=body,
                headers=autranex_headers(body, provider_secret),
            )

    with ThreadPoolExecutor(max_workers=calls + 1) as pool:
        helpers = [pool.submit(_timed, helper_call) for _ in range(calls)]
        provider = pool.submit(_timed, provider_delivery)
        answers = [future.result() for future in helpers]
        provider_response, provider_seconds = provider.result()

    # Had each helper call waited on a second web worker, both workers would be waiting on
    # each other until the 10 s timeout, and every call would answer 502.
    assert [response.status_code for response, _ in answers] == [200] * calls
    assert [response.json()["status_code"] for response, _ in answers] == [200] * calls
    assert max(seconds for _, seconds in answers) < 5
    events = {response.json()["event"] for response, _ in answers}
    assert len(events) == calls
    assert set(Event.objects.filter(endpoint=endpoint).values_list("pk", flat=True)) == events
    assert provider_response.status_code == 200, provider_response.text
    assert provider_seconds < 5


def test_it_needs_no_connection_to_reach_its_receiver(
    operator, make_endpoint, settings, monkeypatch
):
    # The public address points at a closed port, and any socket connect fails: the helper
    # still delivers, because it opens no connection at all.
    settings.HOOKDESK = {**settings.HOOKDESK, "PUBLIC_BASE_URL": "http://127.0.0.1:9"}

    def no_network(*args, **kwargs):
        raise ConnectionRefusedError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    endpoint, _ = make_endpoint("procureiq")

    response = operator.post("/api/v2/test/webhook", {"endpoint": endpoint.slug}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status_code"] == 200
    assert Event.objects.filter(endpoint=endpoint, pk=response.json()["event"]).exists()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_stores_the_sample_as_an_accepted_delivery_from_loopback(
    transactional_db, root, make_endpoint, provider
):
    extra = {"installation_key": "install-key-81"} if provider == "automation" else {}
    endpoint, _ = make_endpoint(provider, **extra)

    client = _token_client(root)
    sent = {"endpoint": endpoint.slug, "order_value": 6100}
    answer = client.post("/api/v2/test/webhook", sent, format="json").json()

    assert answer["status_code"] == 200
    assert answer["response"] == {"status": "received", "event": answer["event"]}
    event = Event.objects.get(endpoint=endpoint)
    assert answer["event"] == event.pk
    assert answer["event_type"] == event.event_type
    assert event.verified_by == endpoint.secrets.get()
    assert event.headers["user-agent"] == "hookdesk-test-sender/1"
    assert event.headers["content-length"] == str(len(event.body))
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.event_id == event.pk
    assert (delivery.outcome, delivery.status_code) == (DeliveryOutcome.ACCEPTED, 200)
    assert delivery.remote_addr == "127.0.0.1"
    assert delivery.headers["user-agent"] == "hookdesk-test-sender/1"
    assert delivery.body_bytes == len(event.body)
    # Stored, committed, then queued for processing like any delivery.
    assert (event.pk, "queue") in queued_event_ids()


def test_it_stores_exactly_the_signed_bytes(operator, make_endpoint):
    endpoint, secret = make_endpoint("autranex")

    answer = operator.post("/api/v2/test/webhook", {"endpoint": endpoint.slug}, format="json")

    event = Event.objects.get(pk=answer.json()["event"])
    signature = event.headers["x-autranex-signature"]
    timestamp = int(re.match(r"t=(\d+),", signature).group(1))
    expected = autranex_headers(bytes(event.body), secret, timestamp=timestamp)
    assert signature == expected["X-Autranex-Signature"]


def test_it_reports_the_event_and_its_admin_page(operator, make_endpoint, settings):
    settings.HOOKDESK = {**settings.HOOKDESK, "PUBLIC_BASE_URL": "https://hooks.example.com/"}
    endpoint, _ = make_endpoint("standard")

    answer = operator.post(
        "/api/v2/test/webhook", {"endpoint": endpoint.slug, "event_type": "order.updated"},
        format="json",
    ).json()  # fmt: skip

    event = Event.objects.get(endpoint=endpoint)
    assert answer["event"] == event.pk
    assert answer["event_type"] == event.event_type == "order.updated"
    assert answer["event_url"] == "https://hooks.example.com" + reverse(
        "admin:webhooks_event_change", args=[event.pk]
    )
    assert set(answer) == {"status_code", "response", "event_type", "event", "event_url"}


def test_it_leaves_the_decision_to_the_receivers_size_limit(operator, make_endpoint, settings):
    settings.HOOKDESK = {**settings.HOOKDESK, "MAX_BODY_BYTES": 40}
    endpoint, _ = make_endpoint("autranex")

    answer = operator.post("/api/v2/test/webhook", {"endpoint": endpoint.slug}, format="json")

    assert answer.status_code == 200
    body = answer.json()
    assert body["status_code"] == 413
    assert body["response"]["reason"] == DeliveryOutcome.TOO_LARGE
    assert (body["event"], body["event_url"]) == (None, None)
    assert not Event.objects.exists()
    assert Delivery.objects.get().outcome == DeliveryOutcome.TOO_LARGE


def test_it_answers_what_the_receiver_says_of_a_disabled_endpoint(operator, make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    Endpoint.objects.filter(pk=endpoint.pk).update(state=EndpointState.DISABLED)

    body = operator.post("/api/v2/test/webhook", {"endpoint": endpoint.slug}, format="json").json()

    assert (body["status_code"], body["event"]) == (404, None)
    assert Delivery.objects.get().outcome == DeliveryOutcome.DISABLED_ENDPOINT


def test_it_passes_on_the_receivers_503_when_nothing_can_be_stored(
    operator, make_endpoint, monkeypatch
):
    def database_down(delivery):
        raise DatabaseError("the database is down")

    monkeypatch.setattr(views, "receive", database_down)
    endpoint, _ = make_endpoint("autranex")

    answer = operator.post("/api/v2/test/webhook", {"endpoint": endpoint.slug}, format="json")

    assert answer.status_code == 200
    assert answer.json()["status_code"] == 503
    assert answer.json()["event"] is None


def test_it_lets_the_receiver_check_the_signature_on_the_bytes_it_gets(make_endpoint):
    endpoint, _ = make_endpoint("autranex")
    signed = sample_delivery(endpoint=endpoint)
    tampered = dataclasses.replace(signed, body=signed.body + b" ")

    receipt = sample_receive(delivery=tampered)

    assert receipt.status_code == 401
    assert receipt.event_id is None
    assert not Event.objects.exists()
    assert Delivery.objects.get().outcome == DeliveryOutcome.INVALID_SIGNATURE
    assert sample_receive(delivery=signed).status_code == 200


def test_it_links_the_admin_message_to_the_stored_event(people, make_endpoint):
    oscar = people["oscar"]
    oscar.is_staff = True
    oscar.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(oscar)
    endpoint, _ = make_endpoint("procureiq")

    response = client.post(
        reverse("admin:webhooks_endpoint_test_event", args=[endpoint.pk]),
        {"confirm_production": "yes"},
        follow=True,
    )

    event = Event.objects.get(endpoint=endpoint)
    (message,) = [str(m) for m in response.context["messages"]]
    link = reverse("admin:webhooks_event_change", args=[event.pk])
    assert message.startswith(
        f"Test order.created sent: the receiver answered 200 and stored event "
        f'<a href="{link}" id="test-event-link">{event.pk}</a>. '
    )
    assert f'href="{link}"' in response.content.decode()
