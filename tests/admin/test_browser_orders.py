"""A compliance reviewer's journey from a hold to its order and the customer's other orders, in
Chromium at 1400 px (and 390 px without sideways scroll): the order page, an amount that changed
after the hold, both event ids labelled, and an upstream hold no local block is credited with."""

import pytest
from django.db import connection

from rules.admin import CustomerFilter, OrderAdmin
from rules.models import HoldSource, Order
from rules.services import block_create
from tests.admin.conftest import follow, order_created
from tests.support.events import autranex, deliver, process, procureiq

pytestmark = pytest.mark.django_db(transaction=True)

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth - window.innerWidth"


def _text(page, selector: str) -> str:
    return " ".join(page.inner_text(selector).split())


def test_it_goes_from_a_hold_to_its_order_and_the_customers_other_orders(console, hold_for):
    hold = hold_for("ord_journey", 9000, customer="cus_journey")
    hold_for("ord_journey_2", 7000, customer="cus_journey")
    hold_for("ord_stranger", 8000, customer="cus_journey_not")  # a longer id: no prefix match
    later = deliver(*hold_for.endpoint, procureiq("order.shipped", {"orderId": "ord_journey"}))
    process(later)

    page = console.login("alice", width=1400)
    page.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    assert page.locator("#amount-changed").count() == 0  # the amount is still the one held
    follow(page, "#order-link")

    order = Order.objects.get(order_id="ord_journey")
    assert page.url.endswith(f"/admin/rules/order/{order.pk}/change/")
    assert page.evaluate(NO_SIDEWAYS_SCROLL) == 0
    assert _text(page, "#order-amount") == "9000.00 USD"
    assert "cus_journey" in _text(page, "#order-customer")
    assert "(1 other)" in _text(page, "#order-customer")
    assert "Metadata" in _text(page, "#order-summary")

    hold_row = page.locator("#order-holds tbody tr")
    assert hold_row.count() == 1
    assert hold_row.locator(".hd-badge.held").inner_text() == "held"
    assert "held by High value v1" in hold_row.inner_text()
    headers = page.locator("#order-holds thead").text_content()  # as written, not upper-cased
    assert "hookdesk event id" in headers and "provider event id" in headers
    assert hold.event.pk in hold_row.inner_text()
    assert hold.event.provider_event_id in hold_row.inner_text()

    event_rows = page.locator("#order-events tbody tr")
    assert event_rows.count() == 2
    headers = page.locator("#order-events thead").text_content()
    assert "hookdesk event id" in headers and "provider event id" in headers
    # Newest first: the shipping event, then the one that made the hold.
    assert later.pk in event_rows.nth(0).inner_text()
    assert later.provider_event_id in event_rows.nth(0).inner_text()
    assert hold.event.pk in event_rows.nth(1).inner_text()
    assert page.locator("#events-capped").count() == 0

    timeline = _text(page, "#timeline")
    assert "order.created received" in timeline and "order.shipped received" in timeline
    assert f"held by High value v1: {hold.pk}" in timeline
    assert f"High value v1: hold (held the order: {hold.pk})" in timeline

    follow(page, f"#order-holds a[href$='/admin/rules/heldorder/{hold.pk}/change/']")
    assert _text(page, "#hold-summary").startswith("Order ord_journey")

    follow(page, "#customer-orders")
    listed = page.locator("#result_list tbody .field-order_id")
    assert sorted(listed.all_inner_texts()) == ["ord_journey", "ord_journey_2"]
    assert "cus_journey" in _text(page, "#changelist-filter")
    page.go_back()
    follow(page, "#order-link")
    follow(page, "#customer-orders")
    listed = page.locator("#result_list tbody .field-order_id")
    assert sorted(listed.all_inner_texts()) == ["ord_journey", "ord_journey_2"]


def test_it_caps_the_order_pages_events_newest_first(console, hold_for, monkeypatch):
    monkeypatch.setattr(OrderAdmin, "events_shown", 2)
    hold = hold_for("ord_busy", 9000)
    shipped = []
    for kind in ("order.confirmed", "order.shipped", "order.delivered"):
        event = deliver(*hold_for.endpoint, procureiq(kind, {"orderId": "ord_busy"}))
        process(event)
        shipped.append(event)

    page = console.login("alice", width=1400)
    page.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    follow(page, "#order-link")
    rows = page.locator("#order-events tbody tr")
    assert rows.count() == 2
    assert shipped[2].pk in rows.nth(0).inner_text()
    assert shipped[1].pk in rows.nth(1).inner_text()
    assert "The 2 newest events" in _text(page, "#events-capped")


def test_it_says_when_a_later_event_changed_the_amount_since_the_hold(console, hold_for):
    hold = hold_for("ord_amount", 9000)
    changed = deliver(*hold_for.endpoint, order_created("ord_amount", 12500))
    process(changed)
    after = deliver(*hold_for.endpoint, procureiq("order.shipped", {"orderId": "ord_amount"}))
    process(after)  # a later event without an amount is not the one that changed it

    page = console.login("alice", width=1400)
    page.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    notice = _text(page, "#amount-changed")
    assert notice.startswith(
        "The order's amount changed since it was held: was 9000.00, now 12500.00 USD "
        f"(event {changed.pk} at "
    )
    assert (
        page.locator("#amount-changed a")
        .get_attribute("href")
        .endswith(f"/admin/webhooks/event/{changed.pk}/change/")
    )
    assert "9000.00 USD" in _text(page, "#hold-summary")  # the amount it was held at

    follow(page, "#order-link")
    assert _text(page, "#order-amount") == "12500.00 USD"


def test_it_labels_the_hookdesk_and_the_provider_event_id_of_the_hold(console, hold_for):
    hold = hold_for("ord_ids", 9000)
    assert hold.event.provider_event_id and hold.event.provider_event_id != hold.event.pk

    page = console.login("alice", width=1400)
    page.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    ids = _text(page, "#event-ids")
    assert f"hookdesk event id {hold.event.pk}" in ids
    assert f"provider event id {hold.event.provider_event_id}" in ids
    assert page.inner_text("#hookdesk-event-id") == hold.event.pk
    assert page.inner_text("#provider-event-id") == hold.event.provider_event_id


def test_it_credits_no_local_block_with_an_upstream_autranex_hold(console, make_endpoint):
    block_create(name="High value", condition="order_value > 5000", action="hold")
    block_create(name="Watch big", condition="order_value > 5000", action="hold", status="shadow")
    block_create(name="Flag big", condition="order_value > 5000", action="flag")
    event = deliver(
        *make_endpoint("autranex"),
        autranex("order.held", {"order_id": "ord_upstream", "order_value": 9000,
                                "currency": "USD", "block_id": "blk_upstream_7"}),
    )  # fmt: skip
    process(event)
    hold = event.hold
    assert hold.source == HoldSource.UPSTREAM and hold.block is None

    page = console.login("alice", width=1400)
    page.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    summary = _text(page, "#hold-summary")
    assert "Held by held upstream by AUTRANEX (blk_upstream_7)" in summary
    assert "High value" not in summary
    assert _text(page, "#hold-reasons") == "held upstream by AUTRANEX (blk_upstream_7)"
    assert "Signals when held upstream" in _text(page, "#signals")

    for timeline in (_text(page, "#timeline"), None):
        if timeline is None:
            follow(page, "#order-link")
            timeline = _text(page, "#timeline")
            assert "held upstream by AUTRANEX (blk_upstream_7)" in _text(page, "#order-holds")
        assert f"held upstream by AUTRANEX (blk_upstream_7): {hold.pk}" in timeline
        assert (
            "High value v1: hold (matched, not acted on: the order was held upstream by "
            "AUTRANEX (blk_upstream_7))"
        ) in timeline
        assert "Watch big v1: hold (shadow, not acted on)" in timeline
        assert "Flag big v1: flag (flagged only, does not hold)" in timeline
        assert "held the order" not in timeline
        assert "held by High value" not in timeline


def test_the_order_and_hold_pages_fit_a_390_px_phone(console, hold_for):
    hold = hold_for(f"ord_phone_{'z' * 40}", 12000, customer="cus_phone_customer_with_a_long_id")
    deliver(*hold_for.endpoint, order_created(f"ord_phone_{'z' * 40}", 15000, customer="x"))

    page = console.login("alice", width=390)
    page.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    assert page.evaluate(NO_SIDEWAYS_SCROLL) == 0
    follow(page, "#order-link")
    assert page.evaluate(NO_SIDEWAYS_SCROLL) == 0
    assert page.locator("#order-events tbody tr").count() == 2
    cell = page.locator("#order-events tbody td[data-label='provider event id']").first
    assert cell.evaluate("e => getComputedStyle(e, '::before').content").startswith(
        '"provider event id'
    )


def test_a_customers_orders_are_found_through_the_customer_index():
    """The Orders list filtered by customer, as the order and hold pages link to it."""
    queryset = CustomerFilter(None, {"customer_id": ["cus_1"]}, Order, OrderAdmin).queryset(
        None, Order.objects.order_by("-first_seen_at", "-pk")
    )
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # an empty table: ask which index serves it
        try:
            plan = queryset.explain()
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "order_customer_seen" in plan
