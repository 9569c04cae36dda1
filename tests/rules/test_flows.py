"""Flows as a newcomer tries them: the API's test helper, and the demo seed."""

import io

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from rules.models import HeldOrder
from webhooks.models import Event
from webhooks.processing import event_process


@pytest.fixture
def operator(transactional_db):
    from django.contrib.auth.models import Group, User

    # Groups come from a migration; a transactional test may run after a flush removed them.
    user = User.objects.create_superuser("root", password="root-pass-0123")
    Group.objects.get_or_create(name="Operations")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_it_creates_a_block_holds_an_order_and_releases_it_through_the_api(operator, make_endpoint):
    make_endpoint("autranex", slug="acme")
    block = operator.post(
        "/api/v2/blocks/",
        {"name": "Over 5k", "condition": "order_value > 5000", "action": "hold"},
        format="json",
    ).json()

    sent = operator.post(
        "/api/v2/test/webhook",
        {"endpoint": "acme", "event_type": "order.created", "order_value": 5500,
         "order_id": "ord_abc123"},
        format="json",
    )  # fmt: skip
    assert sent.status_code == 200, sent.content
    assert sent.json()["status_code"] == 200
    assert sent.json()["response"] == {"status": "received", "event": sent.json()["event"]}
    event_process(event_id=sent.json()["event"])

    order = operator.get("/api/v2/orders/ord_abc123/").json()
    assert order["status"] == "held"
    assert order["hold"]["block_id"] == block["block_id"]
    released = operator.post(
        f"/api/v2/holds/{order['hold']['id']}/release/", {"reason": "KYC done"}, format="json"
    )
    assert released.json()["status"] == "released"
    assert operator.get("/api/v2/orders/ord_abc123/").json()["status"] == "released"


def test_it_refuses_test_webhooks_for_endpoints_that_are_not_ours(operator):
    response = operator.post(
        "/api/v2/test/webhook", {"endpoint": "evil.example", "order_value": 1}, format="json"
    )
    assert response.status_code == 400
    response = operator.post("/api/v2/test/webhook", {"endpoint": "nope"}, format="json")
    assert response.status_code == 404


def test_it_seeds_a_demo_that_shows_a_held_order(transactional_db, monkeypatch):
    monkeypatch.setenv("HOOKDESK_ADMIN_PASSWORD", "demo-pass-0123")
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())

    assert Event.objects.count() == 3
    for event in Event.objects.all():
        event_process(event_id=event.pk)
    hold = HeldOrder.objects.get()
    assert hold.order.order_id == "ord_demo_1003"
    assert hold.block.condition == "order_value > 5000"
