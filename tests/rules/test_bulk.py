"""Bulk decisions: decided in the request while there is time, the rest on the cluster in
chunks, each hold through the single-hold service (review policy, audit trail)."""

from decimal import Decimal

import pytest
from django_q.models import OrmQ

from core import task_names
from core.models import AuditEntry
from rules import bulk
from rules.models import HeldOrder, HoldStatus
from rules.services import RuleError, block_create, review_policy_set
from tests.support.events import deliver, process, procureiq


def order_created(order_id: str, amount: int) -> dict:
    return procureiq(
        "order.created",
        {"orderId": order_id, "userId": "c1", "totalAmount": amount, "currency": "USD"},
    )


@pytest.fixture
def holds(make_endpoint):
    block_create(name="High value", condition="order_value > 5000", action="hold")
    endpoint = make_endpoint("procureiq")

    def make(count: int, amount: int = 9000) -> list[HeldOrder]:
        made = []
        for number in range(count):
            event = deliver(*endpoint, order_created(f"ord_bulk_{amount}_{number}", amount))
            process(event)
            made.append(HeldOrder.objects.get(event=event))
        return made

    return make


def _queued_chunks() -> list[list]:
    return [
        row.task["args"]
        for row in OrmQ.objects.order_by("id")
        if row.task["func"] == task_names.HOLDS_DECIDE
    ]


@pytest.mark.django_db
def test_a_bulk_decision_decides_in_the_request_while_there_is_time(holds, people):
    chosen = holds(3)
    outcomes, queued = bulk.bulk_decide(
        hold_ids=[h.pk for h in chosen], actor=people["alice"], decision="reject",
        reason="sanctioned", seconds=30,
    )  # fmt: skip
    assert (dict(outcomes), queued) == ({"rejected": 3}, 0)
    assert set(HeldOrder.objects.values_list("status", flat=True)) == {HoldStatus.REJECTED}
    assert AuditEntry.objects.filter(action="hold.rejected", reason="sanctioned").count() == 3


@pytest.mark.django_db
def test_what_is_left_goes_to_the_cluster_in_chunks_and_a_redelivery_changes_nothing(
    holds, people, monkeypatch
):
    monkeypatch.setattr(bulk, "BULK_CHUNK", 2)
    chosen = holds(5)
    outcomes, queued = bulk.bulk_decide(
        hold_ids=[h.pk for h in chosen], actor=people["alice"], decision="release",
        reason="verified", seconds=0,
    )  # fmt: skip
    assert (dict(outcomes), queued) == ({}, 5)
    chunks = _queued_chunks()
    assert [len(args[0]) for args in chunks] == [2, 2, 1]
    assert all(list(args[1:]) == [people["alice"].pk, "release", "verified"] for args in chunks)

    for args in chunks:  # what a worker runs
        assert bulk.holds_decide_task(*args) == {"released": len(args[0])}
    assert set(HeldOrder.objects.values_list("status", flat=True)) == {HoldStatus.RELEASED}
    assert bulk.holds_decide_task(*chunks[0]) == {"already decided": 2}


@pytest.mark.django_db
def test_bulk_releases_follow_the_review_policy(holds, people):
    review_policy_set(four_eyes_amount=Decimal("5000"), actor=people["oscar"])
    chosen = holds(2)
    outcomes, _ = bulk.bulk_decide(
        hold_ids=[h.pk for h in chosen], actor=people["alice"], decision="release",
        reason="verified", seconds=30,
    )  # fmt: skip
    assert dict(outcomes) == {"waiting for a second reviewer": 2}
    assert set(HeldOrder.objects.values_list("status", flat=True)) == {HoldStatus.HELD}


@pytest.mark.django_db
def test_a_selection_too_wide_is_refused_before_anything_is_decided(people, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_BULK_HOLDS", 3)
    with pytest.raises(RuleError, match="more than 3 holds"):
        bulk.bulk_decide(
            hold_ids=["a", "b", "c", "d"], actor=people["alice"], decision="reject",
            reason="x", seconds=30,
        )  # fmt: skip
    with pytest.raises(RuleError, match="unknown decision"):
        bulk.bulk_decide(
            hold_ids=[], actor=people["alice"], decision="approve", reason="x", seconds=1
        )


@pytest.mark.django_db
def test_the_admin_hands_a_long_bulk_decision_to_the_cluster(holds, people, client, settings):
    settings.HOOKDESK = {**settings.HOOKDESK, "BULK_DECISION_WAIT_SECONDS": 0}
    chosen = holds(3)
    alice = people["alice"]
    alice.is_staff = True
    alice.save()
    client.force_login(alice)
    response = client.post(
        "/admin/rules/heldorder/",
        {"action": "reject_selected", "_selected_action": [h.pk for h in chosen], "apply": "1",
         "reason": "sanctioned"},
        follow=True,
    )  # fmt: skip
    messages = [str(m) for m in response.context["messages"]]
    assert any("3 more are being decided in the background" in m for m in messages), messages
    assert sum(len(args[0]) for args in _queued_chunks()) == 3
