"""Triage and careful replays in Chromium at 1400 px: a failed event found by its order id,
its last error and the field at fault, attempts in order; "Replay all matching" asks with the
count first; a dry run lists the events that would fail to parse and replays the same events."""

import re

import pytest
from django.utils import timezone

from console import admin as console_admin
from console import replay
from console.models import ReplayRun, ReplayStatus
from tests.admin.conftest import follow, order_created
from tests.support.events import deliver, process
from webhooks.models import AttemptTrigger, Delivery, Event, EventStatus, ProcessingAttempt

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH = 1400
UNPARSEABLE = b'{"id": "evt_gone", "type": "order.created"}'


@pytest.fixture
def run_steps(monkeypatch):
    """Replay steps run in the live server's request, after its commit, instead of on a
    django-q2 cluster."""
    monkeypatch.setattr(
        replay, "replay_run_enqueue", lambda run: replay.replay_run_step(str(run.pk), run.chunk)
    )


def broken_event(endpoint, secret, order_id: str) -> Event:
    event = deliver(endpoint, secret, order_created(order_id, 6000))
    Event.objects.filter(pk=event.pk).update(body=UNPARSEABLE)
    assert process(event) == EventStatus.FAILED
    return event


def test_it_finds_a_failed_event_by_order_and_shows_what_failed(console, make_endpoint):
    endpoint, secret = make_endpoint("procureiq")
    event = broken_event(endpoint, secret, "ord_triage_1")
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert process(event, trigger="retry") == EventStatus.FAILED
    Delivery.objects.filter(event=event).update(latency_ms=12.3456789)

    page = console.login("oscar", width=WIDTH)
    page.goto(console.url + "/admin/webhooks/event/")
    page.fill("#searchbar", "ord_triage_1")
    follow(page, "#changelist-search input[type=submit]")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    error = rows.first.locator(".hd-last-error")
    assert error.get_attribute("title") == event.last_error
    shown = error.inner_text()
    assert shown.endswith("…") and event.last_error.startswith(shown[:-1])
    # The list fits the window: no sideways scrolling at 1400 px.
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH

    follow(page, "#result_list tbody tr th a")
    assert page.inner_text("#field-at-fault") == "data"
    attempts = page.locator("#processing_attempts-group tbody tr.has_original")
    assert attempts.count() == 2
    assert [attempts.nth(n).locator("td.field-ordinal").inner_text() for n in (0, 1)] == [
        "1",
        "2",
    ]
    assert "Retry" in attempts.nth(1).locator("td.field-trigger").inner_text()
    for n in (0, 1):
        started = attempts.nth(n).locator("td.field-started_at").inner_text()
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", started), started
        assert re.fullmatch(r"\d+ ms", attempts.nth(n).locator("td.field-duration").inner_text())
    assert (
        page.locator("#deliveries-group tr.has_original td.field-latency").inner_text() == "12 ms"
    )

    page.goto(console.url + "/admin/webhooks/delivery/")
    assert page.locator("#result_list td.field-latency").first.inner_text() == "12 ms"


def test_it_asks_before_replaying_all_matching(console, make_endpoint, run_steps, monkeypatch):
    endpoint, secret = make_endpoint("procureiq", slug="ask-me")
    for n in range(3):
        process(deliver(endpoint, secret, order_created(f"ord_ask{n}", 10)))
    page = console.login("oscar", width=WIDTH)
    page.goto(console.url + "/admin/webhooks/event/?endpoint=ask-me")
    follow(page, "#replay-matching")
    assert page.inner_text("#replay-count") == "3"
    assert "Yes, replay 3 events" in page.inner_text("#confirm-replay")
    assert not ReplayRun.objects.exists()

    follow(page, "#cancel-replay")
    assert page.url.endswith("/admin/webhooks/event/?endpoint=ask-me")
    assert not ReplayRun.objects.exists()

    # Past the cap, the page says so instead of counting every event.
    monkeypatch.setattr(console_admin.ReplayCountPaginator, "count_cap", 2)
    follow(page, "#replay-matching")
    assert page.inner_text("#replay-count") == "more than 2"
    monkeypatch.setattr(console_admin.ReplayCountPaginator, "count_cap", 10_000)

    follow(page, "#confirm-replay")
    page.wait_for_function(
        "document.getElementById('run-status').textContent.trim() === 'Done'", timeout=30_000
    )
    run = ReplayRun.objects.get()
    assert (run.dry_run, run.status, run.processed) == (False, ReplayStatus.DONE, 3)
    assert ProcessingAttempt.objects.filter(trigger=AttemptTrigger.REPLAY).count() == 3


def test_it_lists_a_dry_runs_failures_and_replays_these(console, make_endpoint, run_steps):
    endpoint, secret = make_endpoint("procureiq", slug="dry-me")
    good = [deliver(endpoint, secret, order_created(f"ord_dry{n}", 10)) for n in range(2)]
    for event in good:
        process(event)
    bad = broken_event(endpoint, secret, "ord_dry_bad")

    page = console.login("oscar", width=WIDTH)
    page.goto(console.url + "/admin/webhooks/event/?endpoint=dry-me")
    follow(page, "#dry-run-matching")
    page.wait_for_selector("#dry-run-failures", timeout=30_000)
    assert page.inner_text("#run-parse-failed") == "1"
    assert "1 event would fail to parse" in page.inner_text("#dry-run-failures h2")
    failure = page.locator("#dry-run-failures tr.hd-dry-run-failure")
    assert failure.count() == 1
    assert "field 'data'" in failure.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    dry_run = ReplayRun.objects.get()

    follow(page, "#replay-these")
    page.wait_for_function(
        "document.getElementById('run-status').textContent.trim() === 'Done'", timeout=30_000
    )
    run = ReplayRun.objects.get(dry_run=False)
    assert page.url.endswith(f"/admin/console/replayrun/{run.pk}/change/")
    assert run.filters["endpoint"] == "dry-me"
    assert (run.total, run.processed, run.failed) == (3, 2, 1)
    assert page.inner_text("#run-done") == "3"

    page.goto(console.url + f"/admin/console/replayrun/{dry_run.pk}/change/")
    follow(page, "#dry-run-failures tr.hd-dry-run-failure a")
    assert page.url.endswith(f"/admin/webhooks/event/{bad.pk}/change/")

    for username in ("alice", "audrey"):
        other = console.login(username, width=WIDTH)
        other.goto(console.url + f"/admin/console/replayrun/{dry_run.pk}/change/")
        assert other.locator("#dry-run-failures").count() == 1
        assert other.locator("#replay-these").count() == 0
