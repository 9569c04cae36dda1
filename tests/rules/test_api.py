"""The REST API: shapes of SPEC section 7, JSON errors, pagination, and the permission matrix."""

import pytest
from drf_spectacular.validation import validate_schema

from core.models import AuditEntry
from rules.models import HeldOrder
from rules.services import block_create
from tests.support.events import deliver, process, procureiq

ROLES = [None, "mallory", "alice", "oscar", "audrey"]


@pytest.fixture
def world(make_endpoint, people):
    endpoint = make_endpoint("procureiq")
    block = block_create(name="High value", condition="order_value > 5000")
    event = deliver(
        *endpoint,
        procureiq("order.created", {"orderId": "ord_1", "userId": "u1", "totalAmount": 6000}),
    )
    process(event)
    return {"block": block, "event": event, "hold": HeldOrder.objects.get()}


def matrix():
    """(method, url template, body, roles allowed)."""
    return [
        ("get", "/api/v2/orders/ord_1/", None, {"alice", "oscar", "audrey"}),
        ("patch", "/api/v2/orders/ord_1/", {"metadata": {"note": "x"}}, {"alice"}),
        ("get", "/api/v2/holds/", None, {"alice", "oscar", "audrey"}),
        ("get", "/api/v2/holds/{hold}/", None, {"alice", "oscar", "audrey"}),
        ("post", "/api/v2/holds/{hold}/release/", {"reason": "ok"}, {"alice"}),
        ("get", "/api/v2/blocks/", None, {"alice", "oscar", "audrey"}),
        ("post", "/api/v2/blocks/", {"name": "n", "condition": "order_value > 1"}, {"oscar"}),
        ("patch", "/api/v2/blocks/{block}/", {"priority": 5}, {"oscar"}),
        ("post", "/api/v2/blocks/{block}/backtest/", {}, {"oscar"}),
        ("get", "/api/v2/events/", None, {"alice", "oscar", "audrey"}),
        ("get", "/api/v2/events/{event}/", None, {"alice", "oscar", "audrey"}),
        ("post", "/api/v2/events/{event}/replay/", {}, {"oscar"}),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_it_enforces_the_permission_matrix(world, api, role):
    ids = {"hold": world["hold"].id, "block": world["block"].block_id, "event": world["event"].pk}
    for method, template, body, allowed in matrix():
        url = template.format(**ids)
        response = getattr(api(role), method)(url, body, format="json")
        if role in allowed:
            assert response.status_code in (200, 201, 202), (method, url, response.content)
        else:
            expected = 401 if role is None else 403
            assert response.status_code == expected, (role, method, url, response.status_code)
            assert "error" in response.json()


@pytest.mark.django_db
def test_it_requires_a_reason_and_refuses_a_second_decision(world, api):
    url = f"/api/v2/holds/{world['hold'].id}"
    missing = api("alice").post(url + "/release/", {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["error"] == "a reason is required"

    released = api("alice").post(url + "/release/", {"reason": "verified"}, format="json")
    assert released.status_code == 200
    assert released.json()["status"] == "released"
    assert released.json()["reviewer"] == "alice"

    again = api("alice").post(url + "/reject/", {"reason": "oops"}, format="json")
    assert again.status_code == 409
    assert "already released" in again.json()["error"]


@pytest.mark.django_db
def test_it_filters_and_paginates_holds(world, api):
    held = api("audrey").get("/api/v2/holds/?status=held").json()
    assert set(held) >= {"next", "previous", "results"}
    assert [h["order_id"] for h in held["results"]] == ["ord_1"]
    assert api("audrey").get("/api/v2/holds/?status=released").json()["results"] == []
    assert api("audrey").get("/api/v2/holds/?order_id=nope").json()["results"] == []


@pytest.mark.django_db
def test_it_merges_order_metadata_and_audits_it(world, api):
    client = api("alice")
    client.patch("/api/v2/orders/ord_1/", {"metadata": {"a": 1}}, format="json")
    response = client.patch("/api/v2/orders/ord_1/", {"metadata": {"b": 2}}, format="json")
    assert response.json()["metadata"] == {"a": 1, "b": 2}
    entry = AuditEntry.objects.filter(action="order.metadata_changed").first()
    assert (entry.before, entry.after, entry.actor_label) == ({"a": 1}, {"a": 1, "b": 2}, "alice")


@pytest.mark.django_db
def test_it_refuses_an_invalid_condition_with_its_position(api, people):
    response = api("oscar").post(
        "/api/v2/blocks/", {"name": "bad", "condition": "order_value >"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "condition"
    assert "column" in body["error"]
    unknown = api("oscar").post(
        "/api/v2/blocks/", {"name": "bad", "condition": "shoe_size > 3"}, format="json"
    )
    assert unknown.status_code == 400
    assert "shoe_size" in unknown.json()["error"]


@pytest.mark.django_db
def test_it_versions_block_changes(world, api):
    block_id = world["block"].block_id
    client = api("oscar")
    client.patch(f"/api/v2/blocks/{block_id}/", {"condition": "order_value > 9000"}, format="json")
    versions = client.get(f"/api/v2/blocks/{block_id}/versions/").json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["snapshot"]["condition"] == "order_value > 9000"
    assert versions[0]["changed_by"] == "oscar"


@pytest.mark.django_db
def test_it_backtests_without_changing_anything(world, api):
    block = block_create(name="Lower", condition="order_value > 1000", status="draft")
    holds, audit = HeldOrder.objects.count(), AuditEntry.objects.count()
    response = api("oscar").post(f"/api/v2/blocks/{block.block_id}/backtest/", {}, format="json")
    result = response.json()
    assert result["orders_matched"] == 1
    assert result["total_value"] == "6000"
    assert result["sample"][0]["order_id"] == "ord_1"
    assert (HeldOrder.objects.count(), AuditEntry.objects.count()) == (holds, audit)


@pytest.mark.django_db
def test_it_answers_unknown_things_with_json_404(api, people):
    for url in ("/api/v2/orders/nope/", "/api/v2/holds/nope/", "/api/v2/nothing-here/"):
        response = api("alice").get(url)
        assert response.status_code == 404, url
        assert "error" in response.json()


@pytest.mark.django_db
def test_it_lists_events_with_filters(world, api):
    events = api("audrey").get("/api/v2/events/?type=order.created&status=processed").json()
    assert [e["id"] for e in events["results"]] == [world["event"].pk]
    assert api("audrey").get("/api/v2/events/?type=other").json()["results"] == []
    detail = api("audrey").get(f"/api/v2/events/{world['event'].pk}/").json()
    assert detail["order_view"]["order_id"] == "ord_1"
    assert '"ord_1"' in detail["body"]


@pytest.mark.django_db
def test_it_serves_a_valid_openapi_schema_and_docs(client, people):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    import json

    schema = json.loads(response.content)
    validate_schema(schema)
    for path in ("/api/v2/holds/{id}/release/", "/api/v2/blocks/", "/api/v2/orders/{order_id}/"):
        assert any(p.rstrip("/") == path.rstrip("/") for p in schema["paths"]), path
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


@pytest.mark.django_db
def test_it_exposes_metrics_in_prometheus_format(world, client):
    text = client.get("/metrics").content.decode()
    assert 'hookdesk_deliveries_total{outcome="accepted"} 1' in text
    assert 'hookdesk_events{status="processed"} 1' in text
    assert 'hookdesk_holds{status="held"} 1' in text
    assert "hookdesk_queue_depth" in text


@pytest.mark.django_db
def test_it_reports_an_unready_worker_in_healthz(client):
    from django.utils import timezone
    from django_q.models import Schedule

    Schedule.objects.filter(name="hookdesk: sweep events").update(
        next_run=timezone.now() - timezone.timedelta(hours=1)
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["worker"].startswith("no worker cluster")

    Schedule.objects.filter(name="hookdesk: sweep events").update(next_run=timezone.now())
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_it_needs_a_second_reviewer_above_the_four_eyes_amount(world, api, people):
    from decimal import Decimal

    from django.contrib.auth.models import Group, User

    from rules.services import review_policy_set

    review_policy_set(four_eyes_amount=Decimal("5000"))
    bob = User.objects.create_user("bob")
    bob.groups.add(Group.objects.get(name="Compliance reviewer"))
    url = f"/api/v2/holds/{world['hold'].id}/release/"

    first = api("alice").post(url, {"reason": "verified"}, format="json")
    assert first.status_code == 202
    assert first.json()["status"] == "awaiting_confirmation"
    same = api("alice").post(url, {"reason": "again"}, format="json")
    assert same.status_code == 400
    assert "different reviewer" in same.json()["error"]

    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=bob).key}")
    confirmed = client.post(url, {"reason": "agreed"}, format="json")
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "released"
    assert "confirmed by bob" in confirmed.json()["reason"]
