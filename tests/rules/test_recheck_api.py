"""POST /api/v2/blocks/<block_id>/recheck/: the answer of SPEC §10.2, refusals with the condition's
position, and who may re-check (anyone who sees holds) or preview an edit (who edits blocks)."""

import pytest

from core.models import AuditEntry
from rules.models import Block, HeldOrder
from rules.services import block_create
from tests.support.events import deliver, process, procureiq

pytestmark = pytest.mark.django_db

ROLES = [None, "mallory", "alice", "oscar", "audrey"]


@pytest.fixture
def block(make_endpoint, people):
    endpoint = make_endpoint("procureiq")
    block = block_create(name="High value", condition="order_value > 5000")
    for order_id, amount in [("ord_6k", 6000), ("ord_9k", 9000), ("ord_4k", 4500)]:
        payload = {"orderId": order_id, "userId": "u1", "totalAmount": amount}
        process(deliver(*endpoint, procureiq("order.created", payload)))
    return block


def url(block: Block) -> str:
    return f"/api/v2/blocks/{block.block_id}/recheck/"


def test_it_answers_which_holds_no_longer_match_and_which_orders_newly_match(block, api):
    response = api("oscar").post(
        url(block), {"condition": "order_value > 4000 and order_value < 8000"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    nine = HeldOrder.objects.get(order__order_id="ord_9k")
    assert body["no_longer_matching"] == [nine.pk]
    assert body["newly_matching"] == ["ord_4k"]
    assert body["held_by_other_blocks"] == []
    assert body["truncated"] is False
    assert body["holds"] == {"open": 2, "examined": 2, "capped": False}
    assert body["orders"]["examined"] == 1


def test_it_previews_a_status(block, api):
    body = api("oscar").post(url(block), {"status": "disabled"}, format="json").json()
    assert sorted(body["no_longer_matching"]) == sorted(
        HeldOrder.objects.values_list("pk", flat=True)
    )
    assert body["newly_matching"] == []
    assert Block.objects.get(pk=block.pk).status == "active"


def test_it_rechecks_the_block_as_saved_without_a_body(block, api):
    response = api("alice").post(url(block))
    assert response.status_code == 200
    assert response.json()["no_longer_matching"] == response.json()["newly_matching"] == []


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"condition": "order_value >"}, "condition", "at column 14"),
        ({"condition": "shoe_size > 3"}, "condition", "shoe_size"),
        ({"condition": ""}, "condition", "at column 1"),
        ({"status": "paused"}, "status", "status must be one of"),
    ],
)
def test_it_refuses_an_edit_a_save_would_refuse(block, api, body, field, says):
    audit = AuditEntry.objects.count()
    response = api("oscar").post(url(block), body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert says in response.json()["error"]
    assert AuditEntry.objects.count() == audit


@pytest.mark.parametrize("body", [{"action": "allow"}, ["condition"]])
def test_it_refuses_what_is_not_an_edit_it_can_preview(block, api, body):
    response = api("oscar").post(url(block), body, format="json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_it_answers_404_for_an_unknown_block(block, api):
    response = api("oscar").post("/api/v2/blocks/blk_nope/recheck/", {}, format="json")
    assert response.status_code == 404


def matrix():
    """(body, roles allowed): the block as saved is a read; an unsaved edit is an edit."""
    return [
        ({}, {"alice", "oscar", "audrey"}),
        ({"condition": "order_value > 1"}, {"oscar"}),
        ({"status": "disabled"}, {"oscar"}),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_it_enforces_the_permission_matrix(block, api, role):
    for body, allowed in matrix():
        response = api(role).post(url(block), body, format="json")
        if role in allowed:
            assert response.status_code == 200, (role, body, response.content)
        else:
            assert response.status_code == (401 if role is None else 403), (role, body)
            assert "error" in response.json()


def test_it_is_in_the_schema(api):
    schema = api("audrey").get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v2/blocks/{block_id}/recheck/"]["post"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    properties = schema["components"]["schemas"][answer.rsplit("/", 1)[1]]["properties"]
    assert {"no_longer_matching", "newly_matching"} <= set(properties)
