"""The receiver as a DRF view: raw bytes verified, JSON refusals, documented in the schema."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.webhooks.test_receiver import post, sign

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("provider", ["autranex", "procureiq", "automation", "standard"])
def test_it_verifies_bytes_a_parser_would_reserialise_differently(client, make_endpoint, provider):
    endpoint, secret = make_endpoint(provider)
    base = {
        "autranex": {"event_id": "evt_ws", "event_type": "order.created",
                     "data": {"order_id": "o-1", "order_value": 10}},
        "procureiq": {"id": "evt_ws", "type": "order.created", "version": "1",
                      "created": "2026-12-02T00:00:00Z", "data": {"order_id": "o-1"},
                      "metadata": {}},
        "automation": {"orderId": "o-1", "eventType": "OrderCreated"},
        "standard": {"type": "order.created", "timestamp": "2026-12-02T00:00:00Z",
                     "data": {"order_id": "o-1"}},
    }[provider]  # fmt: skip
    # Odd whitespace, reversed key order and a unicode escape: json.dumps would write other bytes.
    items = list(base.items())[::-1]
    body = (
        "{  "
        + " ,\n\t".join(f"{json.dumps(k)} :  {json.dumps(v)}" for k, v in items)
        + ' , "note": "caf\\u00e9"  }'
    ).encode()
    assert json.dumps(json.loads(body)).encode() != body
    response = post(client, endpoint.receiver_path, body, sign(provider, body, secret))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "received"


def test_it_answers_get_with_a_json_405(client, make_endpoint):
    endpoint, _ = make_endpoint("automation")
    response = client.get(endpoint.receiver_path)
    assert response.status_code == 405
    assert "error" in response.json()


def test_it_looks_up_no_session_or_user(client, make_endpoint):
    endpoint, secret = make_endpoint("automation")
    body = b'{"orderId":"o-2","eventType":"OrderCreated"}'
    client.cookies["sessionid"] = "x" * 32
    with CaptureQueriesContext(connection) as queries:
        response = post(client, endpoint.receiver_path, body, sign("automation", body, secret))
    assert response.status_code == 200
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert "django_session" not in sql
    assert "auth_user" not in sql


def test_the_schema_documents_the_receiver_with_each_schemes_headers(client, admin_client):
    response = admin_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    operation = schema["paths"]["/webhooks/{slug}/"]["post"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {"X-Autranex-Signature", "X-ProcureIQ-Signature", "X-Signature",
            "webhook-signature"} <= headers  # fmt: skip
    assert {"200", "400", "401", "404", "413", "503"} <= set(operation["responses"])
    assert "/webhooks/{slug}" not in schema["paths"]
