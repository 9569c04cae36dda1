"""Secrets never reach the logs, and commands show a secret once: where it is created."""

import io
import json
import logging
import time
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from integrations.models import OutboundDelivery
from integrations.outbound import delivery_send
from integrations.transport import Transport
from tests.integrations.support import Reply, Sink, signature_valid
from tests.security.conftest import encodings, held_order
from tests.signing import as_meta, automation_headers, autranex_headers, standard_headers
from webhooks.models import Endpoint, Event
from webhooks.processing import event_process

pytestmark = pytest.mark.django_db


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        # The formatted line and the traceback: what any handler could write out.
        self.lines.append(logging.Formatter("%(name)s %(message)s").format(record))


@contextmanager
def every_log_line():
    """Everything logged at DEBUG and above, SQL statements with their parameters included."""
    handler = _Collect()
    root = logging.getLogger()
    touched = [root, logging.getLogger("django.request"), logging.getLogger("django.db.backends")]
    levels = [logger.level for logger in touched]
    for logger in touched:
        logger.setLevel(logging.DEBUG)
    root.addHandler(handler)
    connection.force_debug_cursor = True
    try:
        yield handler.lines
    finally:
        connection.force_debug_cursor = False
        root.removeHandler(handler)
        for logger, level in zip(touched, levels, strict=True):
            logger.setLevel(level)


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def post(client, endpoint, body: bytes, headers: dict, query: str = "") -> int:
    return client.post(
        endpoint.receiver_path + query, data=body, content_type="application/json",
        **as_meta(headers),
    ).status_code  # fmt: skip


def test_it_logs_no_secret_through_a_whole_working_day():
    secrets: dict[str, str] = {}
    sink = Sink([Reply(500), Reply(200)])
    client = Client()
    try:
        with every_log_line() as lines:
            # Endpoints and a rotation, as an operator does them.
            for provider in ("autranex", "automation", "standard"):
                extra = ("--key", "install-key-Lq7w2Zc9xx") if provider == "automation" else ()
                out, _ = run("create_endpoint", f"log-{provider}", "--provider", provider, *extra)
                secrets[f"{provider} secret"] = out.splitlines()[-1]
            secrets["installation key"] = "install-key-Lq7w2Zc9xx"
            out, _ = run("rotate_secret", "log-autranex", "--grace", "1h")
            secrets["rotated secret"] = out.splitlines()[-1]
            User.objects.create_superuser("ops", password="ops-pass-0123")
            out, _ = run("create_api_token", "ops")
            secrets["API token"] = out.splitlines()[-1]

            # A destination made over the API: its secret is in that one response only.
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Token {secrets['API token']}")
            created = api.post(
                "/api/v2/destinations/",
                {"name": "ERP", "url": sink.url, "key": "dest-key-Pw4n8Rr2aa",
                 "event_types": ["order.held"]},
                format="json",
            )  # fmt: skip
            assert created.status_code == 201, created.content
            secrets["destination secret"] = created.json()["secret"]
            secrets["destination key"] = "dest-key-Pw4n8Rr2aa"

            # Good and bad deliveries for every scheme.
            autranex = Endpoint.objects.get(slug="log-autranex")
            hold = held_order(autranex, secrets["rotated secret"], order_id="ord_1", client=client)
            held_order(autranex, secrets["autranex secret"], order_id="ord_2", client=client)
            body = b'{"event_id":"evt_bad","event_type":"order.created","data":{}}'
            assert post(client, autranex, body, autranex_headers(body, "not-the-secret")) == 401
            an_hour_ago = int(time.time()) - 3600
            stale = autranex_headers(body, secrets["rotated secret"], timestamp=an_hour_ago)
            assert post(client, autranex, body, stale) == 401
            automation = Endpoint.objects.get(slug="log-automation")
            body = b'{"orderId":"ord_a1","eventType":"OrderCreated"}'
            signed = automation_headers(body, secrets["automation secret"])
            assert post(client, automation, body, signed, "?key=install-key-Lq7w2Zc9xx") == 200
            assert post(client, automation, body, signed, "?key=wrong") == 401
            standard = Endpoint.objects.get(slug="log-standard")
            body = json.dumps({"type": "order.created", "data": {"order_id": "ord_s1"}}).encode()
            headers = standard_headers(body, secrets["standard secret"], msg_id="msg_log_1")
            assert post(client, standard, body, headers) == 200
            headers["webhook-signature"] = "v1," + "A" * 44
            assert post(client, standard, body, headers) == 401

            # Processing, then outbound delivery signed with the destination's secret:
            # a 500 first (logged as a failure), then success.
            for event in Event.objects.filter(status="pending"):
                event_process(event_id=event.pk, trigger="queue")
            delivery = OutboundDelivery.objects.get(hold=hold)
            assert delivery_send(delivery_id=delivery.pk) == "retry"
            OutboundDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
            assert delivery_send(delivery_id=delivery.pk) == "succeeded"

            # Reading it all back over the API and a refused token.
            for path in ("/api/v2/events/", f"/api/v2/destinations/{created.json()['id']}/"):
                assert api.get(path).status_code == 200
            refused = APIClient().get("/api/v2/events/", HTTP_AUTHORIZATION="Token nope")
            assert refused.status_code == 401
    finally:
        sink.stop()
        Transport.forget_all()

    assert signature_valid("autranex", sink.received[-1], secrets["destination secret"])
    assert sink.received[-1].query["key"] == ["dest-key-Pw4n8Rr2aa"]
    text = "\n".join(lines)
    assert "SELECT" in text and "delivery" in text  # SQL and the pipeline's own lines were seen
    leaked = sorted(
        label for label, value in secrets.items() if any(f in text for f in encodings(value))
    )
    assert leaked == []


def test_it_prints_each_secret_once_where_it_is_made(db):
    out, err = run("create_endpoint", "once", "--provider", "standard")
    secret = out.splitlines()[-1]
    assert (out + err).count(secret) == 1

    out, err = run("rotate_secret", "once", "--grace", "0")
    rotated = out.splitlines()[-1]
    assert (out + err).count(rotated) == 1
    assert secret not in out + err

    User.objects.create_user("tok")
    out, err = run("create_api_token", "tok")
    token = out.splitlines()[-1]
    assert (out + err).count(token) == 1
    again, err = run("create_api_token", "tok")
    assert token not in again + err  # a second run issues a new token, never the old one
    assert "no longer works" in err
