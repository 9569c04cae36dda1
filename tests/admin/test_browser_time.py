"""One time format everywhere, to the second with the zone; each user may pick a time zone."""

import re
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_time_zone
from tests.admin.conftest import follow

pytestmark = pytest.mark.django_db(transaction=True)

MOMENT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [A-Z]{3,4}")


def test_times_read_to_the_second_with_the_zone_in_lists_pages_and_the_dashboard(console, hold_for):
    hold = hold_for("ord_time_1", 9000)
    page = console.login("oscar", width=1400)

    page.goto(console.url + "/admin/webhooks/event/")
    received = page.inner_text("#result_list tbody tr td.field-received_at")
    assert MOMENT.fullmatch(received.strip()), received
    assert received.strip().endswith("UTC")
    page.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    assert MOMENT.search(page.inner_text("#hold-summary"))
    page.goto(console.url + "/admin/console/dashboard/")
    assert "Times are in UTC" in page.inner_text("#content")


def test_a_user_picks_a_time_zone_and_sees_every_time_in_it(console, hold_for):
    hold = hold_for("ord_time_2", 9000)
    tokyo = hold.created_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M:%S")

    alice = console.login("alice", width=1400)
    follow(alice, "#preferences-link")
    alice.select_option("#id_time_zone", "Asia/Tokyo")
    follow(alice, "#save-preferences")
    assert "Asia/Tokyo" in alice.inner_text(".messagelist")
    assert alice.inner_text("#now-shown").endswith("JST")

    alice.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    assert f"{tokyo} JST" in alice.inner_text("#hold-summary")

    # Another user keeps the console's zone; the API always answers in UTC.
    oscar = console.login("oscar", width=1400)
    oscar.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    assert "JST" not in oscar.inner_text("#hold-summary")
    api = alice.request.get(console.url + f"/api/v2/holds/{hold.pk}/")
    assert api.json()["created_at"].endswith("Z")


def test_the_console_time_zone_is_configurable_and_checked(monkeypatch):
    monkeypatch.setenv("HOOKDESK_TIME_ZONE", "Europe/Berlin")
    assert env_time_zone("HOOKDESK_TIME_ZONE") == "Europe/Berlin"
    monkeypatch.setenv("HOOKDESK_TIME_ZONE", "Mars/Olympus")
    with pytest.raises(ImproperlyConfigured, match="IANA time zone"):
        env_time_zone("HOOKDESK_TIME_ZONE")
    monkeypatch.delenv("HOOKDESK_TIME_ZONE")
    assert env_time_zone("HOOKDESK_TIME_ZONE") == "UTC"
