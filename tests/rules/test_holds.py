"""Held orders: the AUTRANEX seed's $5,000 auto-hold end to end, shadow/allow/flag blocks,
upstream holds, review decisions, and idempotency under retries, replays and concurrency."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from core.models import AuditEntry
from rules.models import Decision, HeldOrder, HoldStatus
from rules.services import (
    HoldConflict,
    RuleError,
    block_create,
    block_update,
    hold_reject,
    hold_release,
)
from tests.postgres import requires_postgres
from tests.support.events import autranex, deliver, process, procureiq
from webhooks.models import Event, EventStatus
from webhooks.processing import event_process
from webhooks.replay import event_replay

HIGH_VALUE = "order_value > 5000"


def order_created(order_id: str, amount: float, customer: str = "usr_1", **extra) -> dict:
    return procureiq(
        "order.created",
        {
            "orderId": order_id,
            "userId": customer,
            "totalAmount": amount,
            "currency": "USD",
            **extra,
        },
    )


@pytest.fixture
def endpoint(make_endpoint):
    return make_endpoint("procureiq")


@pytest.mark.django_db
def test_it_holds_an_order_over_5000_and_audits_it(endpoint, api):
    created = api("oscar").post(
        "/api/v2/blocks/",
        {"name": "High value", "condition": HIGH_VALUE, "action": "hold",
         "metadata": {"ticket": "RISK-1"}},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.content
    assert created.json()["block_id"].startswith("blk_")
    assert created.json()["status"] == "active"

    event = deliver(*endpoint, order_created("ord_big", 5500))
    assert process(event) == EventStatus.PROCESSED

    order = api("alice").get("/api/v2/orders/ord_big/").json()
    assert order["status"] == "held"
    hold = order["hold"]
    assert hold["order_id"] == "ord_big"
    assert hold["amount"] == "5500.00"
    assert hold["currency"] == "USD"
    assert hold["block_id"] == created.json()["block_id"]
    assert hold["status"] == "held"
    assert hold["event"] == event.pk
    assert any("order_value > 5000" in reason for reason in hold["reasons"])
    assert hold["signals"] == {"order_value": "5500"}
    assert "pre-authorisation" in hold["finance_note"]
    assert [e["id"] for e in order["events"]] == [event.pk]

    entry = AuditEntry.objects.get(action="hold.created")
    assert (entry.actor_label, entry.order_id, entry.object_id) == ("system", "ord_big", hold["id"])


@pytest.mark.django_db
def test_it_leaves_orders_at_or_under_5000_clear(endpoint, api):
    block_create(name="High value", condition=HIGH_VALUE)
    process(deliver(*endpoint, order_created("ord_small", 5000)))

    order = api("alice").get("/api/v2/orders/ord_small/").json()
    assert order["status"] == "clear"
    assert order["hold"] is None
    assert not HeldOrder.objects.exists()


@pytest.mark.django_db
def test_it_records_what_a_shadow_block_would_hold_without_holding(endpoint):
    block = block_create(name="Shadow", condition=HIGH_VALUE, status="shadow")
    event = deliver(*endpoint, order_created("ord_s", 9000))
    process(event)

    assert not HeldOrder.objects.exists()
    decision = Decision.objects.get(event=event)
    assert (decision.block, decision.shadow, decision.action) == (block, True, "hold")
    assert decision.signals == {"order_value": "9000"}


@pytest.mark.django_db
def test_a_replay_refreshes_the_decision_in_place(endpoint):
    block = block_create(name="Shadow", condition=HIGH_VALUE, status="shadow")
    event = deliver(*endpoint, order_created("ord_r", 9000))
    process(event)
    block_update(block=block, condition="order_value > 8000")

    assert event_replay(event=event)
    process(event, trigger="replay")

    decision = Decision.objects.get(event=event)
    assert (decision.block_version, decision.shadow) == (2, True)


@pytest.mark.django_db
def test_it_lets_an_allow_block_win_over_a_hold_block(endpoint):
    block_create(name="High value", condition=HIGH_VALUE)
    trusted = 'customer_order_count >= 0 and currency == "USD"'
    allow = block_create(name="Trusted", condition=trusted, action="allow")
    flag = block_create(name="Flag big", condition="order_value > 1000", action="flag")
    event = deliver(*endpoint, order_created("ord_allow", 9000))
    process(event)

    assert not HeldOrder.objects.exists()
    decisions = {d.block_id: d.action for d in Decision.objects.filter(event=event)}
    assert decisions[allow.pk] == "allow"
    assert decisions[flag.pk] == "flag"


@pytest.mark.django_db
def test_it_does_not_hold_with_a_draft_or_disabled_block(endpoint):
    block_create(name="Draft", condition=HIGH_VALUE, status="draft")
    block_create(name="Off", condition=HIGH_VALUE, status="disabled")
    process(deliver(*endpoint, order_created("ord_d", 9000)))
    assert not HeldOrder.objects.exists()
    assert not Decision.objects.exists()


@pytest.mark.django_db
def test_it_scopes_a_block_to_its_event_types(endpoint):
    block_create(name="Payments only", condition=HIGH_VALUE, event_types=["payment.initiated"])
    process(deliver(*endpoint, order_created("ord_scope", 9000)))
    assert not HeldOrder.objects.exists()


@pytest.mark.django_db
def test_it_records_an_upstream_autranex_hold_whatever_its_own_blocks_say(make_endpoint, api):
    endpoint = make_endpoint("autranex")
    event = deliver(
        *endpoint,
        autranex("order.held", {"order_id": "ord_up", "order_value": 300, "currency": "USD",
                                "block_id": "blk_upstream_42"}),
    )  # fmt: skip
    process(event)

    hold = api("alice").get("/api/v2/holds/?order_id=ord_up").json()["results"][0]
    assert hold["block_id"] == "blk_upstream_42"
    assert hold["source"] == "upstream"
    assert hold["amount"] == "300.00"
    assert hold["reasons"] == ["held upstream by AUTRANEX (blk_upstream_42)"]


@pytest.mark.django_db
def test_it_names_no_block_id_for_an_upstream_hold_without_one(make_endpoint):
    payload = autranex("order.held", {"order_id": "ord_up_nb", "order_value": 300})
    event = deliver(*make_endpoint("autranex"), payload)
    process(event)

    hold = HeldOrder.objects.get(order__order_id="ord_up_nb")
    assert hold.reasons == ["held upstream by AUTRANEX (no block_id)"]


@pytest.mark.django_db
def test_it_holds_upstream_only_for_events_the_scheme_says_are_upstream_holds(make_endpoint):
    process(deliver(*make_endpoint("autranex"), autranex("order.released", {"order_id": "ord_a"})))
    process(deliver(*make_endpoint("procureiq"), procureiq("order.created", {"orderId": "ord_b"})))

    assert not HeldOrder.objects.exists()


@pytest.mark.django_db
def test_it_never_holds_twice_for_retries_replays_or_later_events(endpoint):
    block_create(name="High value", condition=HIGH_VALUE)
    payload = order_created("ord_once", 7000)
    event = deliver(*endpoint, payload)
    process(event)
    duplicate = deliver(*endpoint, payload)  # provider retry: same event id
    assert duplicate.pk == event.pk
    assert process(duplicate) is None

    assert event_replay(event=event)
    assert process(event, trigger="replay") == EventStatus.PROCESSED

    shipped = procureiq("order.shipped", {"orderId": "ord_once", "trackingNumber": "T1"})
    process(deliver(*endpoint, shipped))
    assert HeldOrder.objects.count() == 1

    hold = HeldOrder.objects.get()
    hold_release(hold=hold, actor=None, reason="verified by phone")
    process(deliver(*endpoint, procureiq("order.confirmed", {"orderId": "ord_once"})))
    assert HeldOrder.objects.count() == 1


@pytest.mark.django_db
def test_it_releases_and_rejects_with_a_reason_once(endpoint, people):
    block_create(name="High value", condition=HIGH_VALUE)
    process(deliver(*endpoint, order_created("ord_r1", 6000)))
    process(deliver(*endpoint, order_created("ord_r2", 6000)))
    first, second = HeldOrder.objects.order_by("created_at")

    with pytest.raises(RuleError):
        hold_release(hold=first, actor=people["alice"], reason="   ")
    released = hold_release(hold=first, actor=people["alice"], reason="customer verified")
    rejected = hold_reject(hold=second, actor=people["alice"], reason="stolen card")

    assert (released.status, released.reviewer, released.decision_reason) == (
        HoldStatus.RELEASED, people["alice"], "customer verified"
    )  # fmt: skip
    assert "new" in released.finance_note and "authorisation" in released.finance_note
    assert rejected.status == HoldStatus.REJECTED
    with pytest.raises(HoldConflict):
        hold_reject(hold=first, actor=people["alice"], reason="changed my mind")
    actions = list(
        AuditEntry.objects.filter(object_type="hold").values_list("action", "actor_label")
    )
    assert ("hold.released", "alice") in actions
    assert ("hold.rejected", "alice") in actions


@requires_postgres()
@pytest.mark.django_db(transaction=True)
def test_it_creates_one_hold_when_two_events_of_an_order_are_processed_at_once(make_endpoint):
    endpoint = make_endpoint("procureiq")
    block_create(name="High value", condition=HIGH_VALUE)
    events = [
        deliver(*endpoint, order_created("ord_race", 8000)),
        deliver(*endpoint, procureiq("payment.initiated",
                                     {"orderId": "ord_race", "amount": 8000, "currency": "USD"})),
    ]  # fmt: skip
    start = threading.Barrier(len(events))

    def run(event):
        start.wait()
        try:
            return event_process(event_id=event.pk)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        statuses = list(pool.map(run, events))

    assert statuses == [EventStatus.PROCESSED, EventStatus.PROCESSED]
    assert HeldOrder.objects.filter(order__order_id="ord_race").count() == 1
    assert Event.objects.filter(status=EventStatus.PROCESSED).count() == 2


@pytest.mark.django_db
def test_it_announces_each_hold_change_inside_its_transaction(endpoint, people):
    from rules.signals import hold_changed

    seen = []

    def listener(sender, hold, event_type, **kwargs):
        seen.append((event_type, hold.order.order_id, hold.status))

    hold_changed.connect(listener)
    try:
        block_create(name="High value", condition=HIGH_VALUE)
        process(deliver(*endpoint, order_created("ord_n", 6000)))
        hold_release(hold=HeldOrder.objects.get(), actor=people["alice"], reason="ok")
    finally:
        hold_changed.disconnect(listener)

    assert seen == [("order.held", "ord_n", "held"), ("order.released", "ord_n", "released")]
