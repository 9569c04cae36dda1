"""Every figure links to the list behind it, and that list shows exactly what was counted:
dashboard tiles, alerts and destination rows; endpoint and destination lists show their last
delivery and failure rate from one query per page; a dead letter is retried from its page."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.admin.utils import quote
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from console.dashboard import dashboard_figures
from console.models import Alert, AlertKind, AlertThreshold
from core.models import AuditEntry
from integrations.models import DeliveryStatus, OutboundDelivery
from integrations.services import destination_create
from rules.models import HeldOrder
from tests.admin.conftest import order_created
from tests.admin.test_browser_operations import post_signed
from tests.support.events import deliver
from webhooks.admin_filters import event_filters_from_params
from webhooks.models import Delivery, Event, EventStatus
from webhooks.selectors import events_for_filters

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(days=2)


@pytest.fixture
def login(people):
    def client_for(username: str) -> Client:
        people[username].is_staff = True
        people[username].save(update_fields=["is_staff"])
        client = Client()
        client.force_login(people[username])
        return client

    return client_for


def _shown(client, url: str) -> list:
    response = client.get(url)
    # 200, not the admin's redirect to ?e=1 for a parameter no filter takes.
    assert response.status_code == 200, url
    return list(response.context["cl"].result_list)


def _age(queryset, field: str, by: timedelta) -> None:
    for row in queryset:
        type(row).objects.filter(pk=row.pk).update(**{field: getattr(row, field) - by})


def test_it_links_each_tile_to_the_list_of_what_it_counted(login, hold_for):
    oscar = login("oscar")
    endpoint, secret = hold_for.endpoint
    hold_for("ord_open", 9000)
    test_hold = hold_for("ord_test", 9000)
    HeldOrder.objects.filter(pk=test_hold.pk).update(is_test=True)
    for n in range(3):
        assert post_signed(endpoint, "wrong-secret-0123456789", order_created(f"bad{n}", 1)) == 401
    _age(Delivery.objects.filter(status_code=401)[:1], "received_at", LONG_AGO)
    failing = [deliver(endpoint, secret, order_created(f"ord_f{n}", 10)) for n in range(3)]
    Event.objects.filter(pk__in=[e.pk for e in failing]).update(status=EventStatus.FAILED)
    _age(Event.objects.filter(pk=failing[0].pk), "received_at", LONG_AGO)
    Event.objects.filter(pk=failing[1].pk).update(status=EventStatus.DEAD)

    figures = dashboard_figures()
    assert figures["open_holds"] == 1
    held = _shown(oscar, figures["open_holds_url"])
    assert [hold.order.order_id for hold in held] == ["ord_open"]

    signature = figures["signature_failures_24h"]
    assert signature["count"] == 2
    assert len(_shown(oscar, signature["url"])) == 2

    retrying = figures["failing_events"][EventStatus.FAILED]
    assert retrying["url"].endswith("?status=failed&received=24h")
    assert [e.pk for e in _shown(oscar, retrying["url"])] == [failing[2].pk]
    assert retrying["count"] == 1
    dead = figures["failing_events"][EventStatus.DEAD]
    assert dead["count"] == 1 and [e.pk for e in _shown(oscar, dead["url"])] == [failing[1].pk]

    for status, url in figures["backlog_urls"].items():
        assert len(_shown(oscar, url)) == figures["queue"]["backlog"][status]

    page = oscar.get("/admin/console/dashboard/").content.decode()
    for url in (figures["open_holds_url"], signature["url"], retrying["url"], dead["url"]):
        assert f'href="{url.replace("&", "&amp;")}"' in page


def _alert(kind: str, endpoint, raised_at, window: int = 10) -> Alert:
    threshold = AlertThreshold.objects.create(
        name=kind, kind=kind, endpoint=endpoint, limit=1, window_minutes=window
    )
    return Alert.objects.create(
        threshold=threshold, endpoint=endpoint, raised_at=raised_at, value=2, message="crossed"
    )


def test_it_links_an_alert_to_its_endpoints_deliveries_in_its_window(login, make_endpoint):
    oscar = login("oscar")
    endpoint, _ = make_endpoint("procureiq", slug="noisy")
    other, _ = make_endpoint("procureiq", slug="quiet")
    for target in (endpoint, endpoint, endpoint, other):
        assert post_signed(target, "wrong-secret-0123456789", order_created("x", 1)) == 401
    before_window = Delivery.objects.filter(endpoint=endpoint).order_by("pk").first()
    _age([before_window], "received_at", timedelta(minutes=30))
    _alert(AlertKind.SIGNATURE_FAILURES, endpoint, timezone.now() + timedelta(seconds=1))

    figures = dashboard_figures()
    [shown_alert] = figures["alerts"]
    listed = _shown(oscar, shown_alert.list_url)
    in_window = Delivery.objects.filter(endpoint=endpoint).exclude(pk=before_window.pk)
    assert sorted(d.pk for d in listed) == sorted(in_window.values_list("pk", flat=True))
    page = oscar.get("/admin/console/dashboard/").content.decode()
    assert f'href="{shown_alert.list_url.replace("&", "&amp;")}"' in page


def test_it_links_an_alert_to_its_endpoints_events_and_keeps_replay_to_them(login, make_endpoint):
    oscar = login("oscar")
    endpoint, secret = make_endpoint("procureiq", slug="failing")
    events = [deliver(endpoint, secret, order_created(f"ord_a{n}", 10)) for n in range(3)]
    _age([events[0]], "received_at", timedelta(hours=2))
    _alert(AlertKind.PROCESSING_FAILURES, endpoint, timezone.now() + timedelta(seconds=1), 60)
    [alert] = dashboard_figures()["alerts"]
    listed = _shown(oscar, alert.list_url)
    assert sorted(e.pk for e in listed) == sorted(e.pk for e in events[1:])

    # "Replay all matching" on that list replays what it shows, window included.
    params = QueryDict(urlsplit(alert.list_url).query)
    replayed = events_for_filters(event_filters_from_params(params))
    assert sorted(replayed.values_list("pk", flat=True)) == sorted(e.pk for e in events[1:])


def test_it_links_a_destination_row_to_its_outbound_deliveries(login, hold_for):
    oscar = login("oscar")
    erp, _ = destination_create(name="ERP", url="http://127.0.0.1:9/erp")
    hold_for("ord_d1", 9000)
    destination_create(name="Other", url="http://127.0.0.1:9/other")
    hold_for("ord_d2", 9000)
    rows = {row["name"]: row for row in dashboard_figures()["destinations"]}
    listed = _shown(oscar, rows["ERP"]["deliveries_url"])
    assert sorted(d.order_id for d in listed) == ["ord_d1", "ord_d2"]
    assert [d.order_id for d in _shown(oscar, rows["Other"]["deliveries_url"])] == ["ord_d2"]
    OutboundDelivery.objects.filter(destination=erp, order_id="ord_d1").update(
        status=DeliveryStatus.DEAD
    )
    rows = {row["name"]: row for row in dashboard_figures()["destinations"]}
    dead = _shown(oscar, rows["ERP"]["dead_url"])
    assert [d.order_id for d in dead] == ["ord_d1"] and rows["ERP"]["dead"] == 1


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_it_shows_each_endpoints_last_delivery_and_refusals_from_one_query(login, make_endpoint):
    oscar = login("oscar")
    endpoint, secret = make_endpoint("procureiq", slug="busy")
    deliver(endpoint, secret, order_created("ord_e1", 10))
    post_signed(endpoint, "wrong-secret-0123456789", order_created("x", 1))
    make_endpoint("procureiq", slug="silent")
    page = oscar.get("/admin/webhooks/endpoint/")
    rows = {e.slug: e.hd_figures for e in page.context["cl"].result_list}
    assert rows["busy"]["deliveries_24h"] == 2 and rows["busy"]["refused_24h"] == 1
    assert rows["silent"]["last_delivery_at"] is None
    html = page.content.decode()
    assert "1 of 2 (50.0%)" in html and "never" in html
    assert 'href="/admin/webhooks/delivery/?endpoint=busy"' in html

    few = _queries(oscar, "/admin/webhooks/endpoint/")
    for n in range(4):
        more, more_secret = make_endpoint("procureiq", slug=f"more-{n}")
        deliver(more, more_secret, order_created(f"ord_m{n}", 10))
    assert _queries(oscar, "/admin/webhooks/endpoint/") == few


def test_it_shows_each_destinations_last_delivery_and_failures_from_one_query(login, hold_for):
    oscar = login("oscar")
    destination_create(name="ERP", url="http://127.0.0.1:9/erp")
    hold_for("ord_g1", 9000)
    hold_for("ord_g2", 9000)
    OutboundDelivery.objects.filter(order_id="ord_g1").update(status=DeliveryStatus.DEAD)
    page = oscar.get("/admin/integrations/destination/")
    html = page.content.decode()
    assert "1 of 2 (50.0%)" in html and 'class="hd-last-delivery"' in html

    few = _queries(oscar, "/admin/integrations/destination/")
    for n in range(3):
        destination_create(name=f"More {n}", url=f"http://127.0.0.1:9/more{n}")
    hold_for("ord_g3", 9000)
    assert _queries(oscar, "/admin/integrations/destination/") == few


@pytest.fixture
def dead_letter(hold_for):
    destination_create(name="ERP", url="http://127.0.0.1:9/erp")
    hold_for("ord_dead", 9000)
    delivery = OutboundDelivery.objects.get()
    OutboundDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DEAD, attempts=3, max_attempts=3, dead_at=timezone.now()
    )
    return delivery


def test_it_retries_a_dead_letter_from_its_page(login, dead_letter):
    oscar = login("oscar")
    # The admin's own link to the page, with the id quoted as the list writes it.
    page_url = reverse("admin:integrations_outbounddelivery_change", args=[quote(dead_letter.pk)])
    retry_url = reverse("admin:integrations_outbounddelivery_retry", args=[dead_letter.pk])
    page = oscar.get(page_url).content.decode()
    assert 'id="retry-now"' in page and f'action="{retry_url}"' in page

    oscar.get(retry_url)  # a GET changes nothing
    dead_letter.refresh_from_db()
    assert dead_letter.status == DeliveryStatus.DEAD

    response = oscar.post(retry_url, follow=True)
    dead_letter.refresh_from_db()
    assert (dead_letter.status, dead_letter.max_attempts) == (DeliveryStatus.PENDING, 4)
    assert "queued for another attempt" in response.content.decode()
    assert AuditEntry.objects.filter(object_id=dead_letter.pk, reason="retry").exists()
    assert 'id="retry-now"' not in oscar.get(page_url).content.decode()


def test_it_lets_only_operations_retry_a_dead_letter(login, dead_letter):
    alice = login("alice")
    page_url = reverse("admin:integrations_outbounddelivery_change", args=[dead_letter.pk])
    retry_url = reverse("admin:integrations_outbounddelivery_retry", args=[dead_letter.pk])
    assert 'id="retry-now"' not in alice.get(page_url).content.decode()
    assert alice.post(retry_url).status_code == 403
    dead_letter.refresh_from_db()
    assert dead_letter.status == DeliveryStatus.DEAD
