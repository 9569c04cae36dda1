"""Outcome labels on release and reject (SPEC 10.3): validated, stored, audited, filterable."""

import pytest

from core.models import AuditEntry
from rules.models import HeldOrder
from rules.services import block_create
from tests.support.events import deliver, process, procureiq


@pytest.fixture
def holds(make_endpoint, people):
    endpoint = make_endpoint("procureiq")
    block_create(name="High value", condition="order_value > 5000")
    for order_id in ("ord_1", "ord_2"):
        payload = {"orderId": order_id, "userId": "u1", "totalAmount": 6000}
        process(deliver(*endpoint, procureiq("order.created", payload)))
    return {hold.order.order_id: hold for hold in HeldOrder.objects.select_related("order")}


@pytest.mark.django_db
def test_it_stores_and_filters_by_outcome(holds, api):
    url = f"/api/v2/holds/{holds['ord_1'].id}/release/"
    body = {"reason": "customer called", "outcome": "false_positive"}
    released = api("alice").post(url, body, format="json")
    assert released.status_code == 200
    assert released.json()["outcome"] == "false_positive"
    entry = AuditEntry.objects.get(action="hold.released")
    assert entry.after["outcome"] == "false_positive"
    listed = api("audrey").get("/api/v2/holds/?outcome=false_positive").json()["results"]
    assert [hold["order_id"] for hold in listed] == ["ord_1"]
    assert api("audrey").get("/api/v2/holds/?outcome=verified").json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "decision,outcome",
    [("release", "confirmed_fraud"), ("reject", "verified"), ("reject", "nonsense")],
)
def test_it_refuses_an_outcome_that_does_not_fit_the_decision(holds, api, decision, outcome):
    url = f"/api/v2/holds/{holds['ord_2'].id}/{decision}/"
    response = api("alice").post(url, {"reason": "x", "outcome": outcome}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "outcome"
    hold = HeldOrder.objects.get(pk=holds["ord_2"].pk)
    assert (hold.status, hold.outcome) == ("held", "")


@pytest.mark.django_db
def test_it_decides_without_an_outcome(holds, api):
    url = f"/api/v2/holds/{holds['ord_2'].id}/reject/"
    response = api("alice").post(url, {"reason": "fraud ring"}, format="json")
    assert response.status_code == 200
    assert response.json()["outcome"] == ""
