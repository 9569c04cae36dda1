"""At 1400 px in Chromium: the dashboard's figures open the lists behind them, a test event
on a production endpoint asks first and links to its event and hold, test holds stay out of
a reviewer's queue until asked for, and a dead letter is retried from its own page."""

import pytest
from django.utils import timezone

from integrations.models import DeliveryStatus, OutboundDelivery
from integrations.services import destination_create
from rules.models import HeldOrder
from tests.admin.conftest import follow, order_created
from tests.admin.test_browser_operations import post_signed
from tests.support.events import deliver
from webhooks.models import Event, EventStatus
from webhooks.processing import event_process

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH = 1400


def _rows(page) -> int:
    return page.locator("#result_list tbody tr").count()


def test_it_opens_the_list_behind_each_dashboard_figure(console, hold_for):
    hold_for("ord_dash", 9000)
    endpoint, secret = hold_for.endpoint
    assert post_signed(endpoint, "wrong-secret-0123456789", order_created("bad", 1)) == 401
    failing = deliver(endpoint, secret, order_created("ord_fail", 10))
    Event.objects.filter(pk=failing.pk).update(status=EventStatus.FAILED)
    destination_create(name="Eclipse ERP", url="http://127.0.0.1:9/erp")
    hold_for("ord_erp", 9000)
    dashboard = console.url + "/admin/console/dashboard/"

    page = console.login("oscar", width=WIDTH)
    page.goto(dashboard)
    follow(page, "#processing-failures-link")
    assert "status=failed" in page.url and "received=24h" in page.url
    assert _rows(page) == 1 and failing.pk in page.inner_text("#result_list")

    page.goto(dashboard)
    follow(page, "#signature-failures-link")
    assert "signature=failed" in page.url
    assert _rows(page) == 1 and "401" in page.inner_text("#result_list")

    page.goto(dashboard)
    follow(page, "#kpi-open-holds")
    assert page.locator("[data-hold], #result_list tbody tr").count() >= 1
    assert "ord_dash" in page.inner_text("#content") and "ord_erp" in page.inner_text("#content")

    page.goto(dashboard)
    follow(page, "#destinations-health a.hd-destination-link")
    assert "/admin/integrations/outbounddelivery/" in page.url
    assert _rows(page) == 1 and "ord_erp" in page.inner_text("#result_list")


def test_it_marks_a_test_event_and_keeps_its_hold_out_of_the_queue(
    console, make_endpoint, high_value_block, hold_for, monkeypatch
):
    # Processing as a worker would run it, as soon as the receiver commits.
    monkeypatch.setattr(
        "webhooks.receiver.event_enqueue",
        lambda event_id, **_: event_process(event_id=event_id, trigger="queue"),
    )
    hold_for("ord_real", 9000)
    endpoint, _ = make_endpoint("procureiq", slug="live-shop")

    page = console.login("oscar", width=WIDTH)
    page.goto(console.url + f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    assert "Production endpoint" in page.inner_text("#test-event-warning")
    page.fill("#id_amount", "9000")
    # Without the confirmation the browser does not send it.
    page.click("#test-event-button")
    assert not Event.objects.filter(endpoint=endpoint).exists()
    page.check("#id_confirm_production")
    follow(page, "#test-event-button")
    event = Event.objects.get(endpoint=endpoint)
    hold = HeldOrder.objects.get(event=event)
    assert event.is_test and hold.is_test

    event_link = page.get_attribute(".messagelist a#test-event-link", "href")
    follow(page, ".messagelist a#test-hold-link")
    assert page.url.endswith(f"/admin/rules/heldorder/{hold.pk}/change/")
    assert page.inner_text("#hold-test") == "test"
    page.goto(console.url + event_link)
    assert page.url.endswith(f"/admin/webhooks/event/{event.pk}/change/")
    assert page.locator("#content .hd-badge.test").count() == 1

    reviewer = console.login("alice", width=WIDTH)
    reviewer.goto(console.url + "/admin/")
    follow(reviewer, "text=Review queue")
    queue = reviewer.inner_text("#content")
    assert "ord_real" in queue and hold.order.order_id not in queue
    follow(reviewer, "#changelist-filter details[data-filter-title='traffic'] a:text-is('Test')")
    assert "traffic=test" in reviewer.url
    queue = reviewer.inner_text("#content")
    assert hold.order.order_id in queue and "ord_real" not in queue
    assert reviewer.locator("#content .hd-badge.test").count() >= 1


def test_it_retries_a_dead_letter_from_its_page(console, hold_for):
    destination_create(name="Eclipse ERP", url="http://127.0.0.1:9/erp")
    hold_for("ord_dead", 9000)
    delivery = OutboundDelivery.objects.get()
    OutboundDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DEAD, attempts=3, max_attempts=3, dead_at=timezone.now()
    )

    page = console.login("oscar", width=WIDTH)
    page.goto(console.url + "/admin/integrations/outbounddelivery/?status__exact=dead")
    follow(page, f"#result_list a:text-is('{delivery.pk}')")
    assert "dead letter" in page.inner_text("#dead-letter-note")
    follow(page, "#retry-now")
    assert "queued for another attempt" in page.inner_text(".messagelist")
    delivery.refresh_from_db()
    # Queued for one more attempt (no worker runs here to make it).
    assert (delivery.status, delivery.max_attempts) == (DeliveryStatus.PENDING, 4)
    assert page.locator("#retry-now").count() == 0
