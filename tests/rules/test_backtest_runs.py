"""Backtest runs: worked through in chunks in the background, with progress, cancel, the 7-day
default period and an exclusive end; the admin's date-and-time form; the API's 200 and 202."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from core.models import AuditEntry
from rules import backtest
from rules.backtest import (
    BacktestScan,
    backtest_run_cancel,
    backtest_run_start,
    backtest_run_step,
    block_backtest,
)
from rules.models import BacktestRun, BacktestStatus, HeldOrder
from rules.services import block_create, block_update
from tests.support.events import deliver, process, procureiq
from webhooks.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """Run steps are queued here instead of on the broker; run_next() works the oldest one."""
    steps = []
    monkeypatch.setattr(backtest, "backtest_run_enqueue", lambda run: steps.append(run.chunk))

    def run_next(run):
        backtest_run_step(str(run.pk), steps.pop(0))
        run.refresh_from_db()
        return run

    return steps, run_next


@pytest.fixture
def orders(make_endpoint):
    """orders(("ord_1", 6000, received_at), ...) -> the processed events, received then."""
    endpoint = make_endpoint("procureiq")

    def make(*rows):
        events = []
        for order_id, amount, received_at in rows:
            payload = {"orderId": order_id, "userId": f"u_{order_id}", "totalAmount": amount}
            event = deliver(*endpoint, procureiq("order.created", payload))
            process(event)
            if received_at is not None:
                Event.objects.filter(pk=event.pk).update(received_at=received_at)
            events.append(event)
        return events

    return make


@pytest.fixture
def block(db):
    return block_create(name="Over 5000", condition="order_value > 5000", status="draft")


def hours_ago(hours: float) -> datetime:
    return timezone.now() - timedelta(hours=hours)


def test_it_works_a_run_through_its_chunks_with_progress(
    orders, block, people, queued, monkeypatch, django_capture_on_commit_callbacks
):
    steps, run_next = queued
    monkeypatch.setattr(backtest, "BACKTEST_CHUNK_EVENTS", 2)
    orders(*[(f"ord_{n}", 4000 + 1000 * n, hours_ago(5 - n)) for n in range(5)])
    with django_capture_on_commit_callbacks(execute=True):
        run = backtest_run_start(block=block, actor=people["oscar"])
    assert (run.status, run.done, run.total, steps) == (BacktestStatus.QUEUED, 0, None, [0])

    run = run_next(run)
    assert (run.status, run.done, run.total, run.result["orders_matched"]) == (
        BacktestStatus.RUNNING, 2, 5, 0,
    )  # fmt: skip
    assert steps == [1]
    run = run_next(run)
    assert (run.status, run.done, run.result["orders_matched"]) == (BacktestStatus.RUNNING, 4, 2)
    run = run_next(run)
    assert (run.status, run.done, run.total, steps) == (BacktestStatus.DONE, 5, 5, [])
    assert run.finished_at is not None

    # The chunks add up to what one pass over the same period finds.
    whole = block_backtest(block=block, since=run.since, until=run.until).as_json()
    assert run.result == whole
    assert (whole["orders_matched"], whole["total_value"]) == (3, "21000")
    assert [row["order_id"] for row in whole["sample"]] == ["ord_2", "ord_3", "ord_4"]

    # A redelivered task for a chunk already worked does nothing.
    assert backtest_run_step(str(run.pk), 0) is False
    run.refresh_from_db()
    assert run.done == 5


def test_it_counts_an_order_once_across_chunks(orders, block, queued, monkeypatch):
    _, run_next = queued
    monkeypatch.setattr(backtest, "BACKTEST_CHUNK_EVENTS", 1)
    # The same order seen three times: matched at its first event, in the first chunk.
    orders(*[("ord_again", 9000, hours_ago(3 - n)) for n in range(3)])
    run = backtest_run_start(block=block)
    backtest_run_step(str(run.pk), 0)
    for _ in range(3):
        run = run_next(run)
    assert (run.status, run.done, run.result["orders_matched"]) == (BacktestStatus.DONE, 3, 1)
    assert run.result["total_value"] == "9000"


def test_it_cancels_between_chunks(orders, block, queued, monkeypatch):
    steps, run_next = queued
    monkeypatch.setattr(backtest, "BACKTEST_CHUNK_EVENTS", 2)
    orders(*[(f"ord_{n}", 9000, hours_ago(5 - n)) for n in range(5)])
    run = backtest_run_start(block=block)
    backtest_run_step(str(run.pk), 0)
    run.refresh_from_db()
    assert run.done == 2

    assert backtest_run_cancel(run=run) is True
    assert (run.status, run.finished) == (BacktestStatus.CANCELLED, True)
    run = run_next(run)  # the step queued before the cancel
    assert (run.status, run.done, run.result["orders_matched"]) == (BacktestStatus.CANCELLED, 2, 2)
    assert steps == []
    assert backtest_run_cancel(run=run) is False


def test_it_keeps_a_cancel_that_lands_while_a_chunk_runs(orders, block, queued, monkeypatch):
    steps, _ = queued
    orders(("ord_1", 9000, hours_ago(1)))
    run = backtest_run_start(block=block)
    scan_run = BacktestScan.run

    def cancelled_meanwhile(scan, **kwargs):
        scan_run(scan, **kwargs)
        backtest_run_cancel(run=BacktestRun.objects.get(pk=run.pk))

    monkeypatch.setattr(BacktestScan, "run", cancelled_meanwhile)
    backtest_run_step(str(run.pk), 0)
    run.refresh_from_db()
    assert (run.status, run.done, steps) == (BacktestStatus.CANCELLED, 0, [])


def test_it_defaults_to_the_last_seven_days(orders, block, queued):
    # queued: the step is run here, by hand, not by the broker
    orders(("ord_old", 9000, hours_ago(8 * 24)), ("ord_new", 9000, hours_ago(6 * 24)))
    before = timezone.now()
    run = backtest_run_start(block=block)
    assert before <= run.until <= timezone.now()
    assert run.until - run.since == timedelta(days=7)
    backtest_run_step(str(run.pk), 0)
    run.refresh_from_db()
    assert [row["order_id"] for row in run.result["sample"]] == ["ord_new"]

    # Until without Since: the 7 days before Until.
    until = hours_ago(7 * 24)
    earlier = backtest_run_start(block=block, until=until)
    assert (earlier.since, earlier.until) == (until - timedelta(days=7), until)


def test_it_includes_since_and_excludes_until(orders, block):
    at = timezone.now().replace(microsecond=0) - timedelta(days=1)
    orders(("ord_before", 9000, at - timedelta(seconds=1)), ("ord_at", 9000, at))
    run = backtest_run_start(block=block, since=at - timedelta(hours=1), until=at)
    backtest_run_step(str(run.pk), 0, requeue=False)
    run.refresh_from_db()
    assert [row["order_id"] for row in run.result["sample"]] == ["ord_before"]

    run = backtest_run_start(block=block, since=at, until=at + timedelta(minutes=1))
    backtest_run_step(str(run.pk), 0, requeue=False)
    run.refresh_from_db()
    assert [row["order_id"] for row in run.result["sample"]] == ["ord_at"]


def test_it_evaluates_the_block_as_it_was_when_started(orders, block, people):
    orders(("ord_6000", 6000, hours_ago(1)))
    run = backtest_run_start(block=block)
    block_update(block=block, actor=people["oscar"], reason="raise", condition="order_value > 7000")
    backtest_run_step(str(run.pk), 0, requeue=False)
    run.refresh_from_db()
    assert (run.block_version, run.condition) == (1, "order_value > 5000")
    assert run.result["orders_matched"] == 1
    assert run.result["sample"][0]["reasons"][0] == "Over 5000: order_value > 5000"


def test_it_records_a_failed_run(orders, block, queued, monkeypatch):
    steps, _ = queued
    orders(("ord_1", 9000, hours_ago(1)))

    def broken(*args, **kwargs):
        raise RuntimeError("signals unavailable")

    monkeypatch.setattr(backtest, "signals_compute", broken)
    run = backtest_run_start(block=block)
    backtest_run_step(str(run.pk), 0)
    run.refresh_from_db()
    assert (run.status, run.error, steps) == (
        BacktestStatus.FAILED, "RuntimeError: signals unavailable", [],
    )  # fmt: skip


# --- The admin ---------------------------------------------------------------------------------


@pytest.fixture
def operator(people):
    people["oscar"].is_staff = True
    people["oscar"].save(update_fields=["is_staff"])
    client = Client()
    client.force_login(people["oscar"])
    return client


def test_it_starts_a_run_from_a_date_and_time_range_in_the_current_zone(
    operator, block, settings, django_capture_on_commit_callbacks, queued
):
    steps, _ = queued
    settings.TIME_ZONE = "Europe/Berlin"
    url = f"/admin/rules/block/{block.pk}/backtest/"
    form = operator.get(url)
    assert b'type="datetime-local"' in form.content
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(url, {"since": "2026-01-05T10:30", "until": "2026-01-06T08:00"})
    run = BacktestRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/rules/backtestrun/{run.pk}/change/"
    berlin = ZoneInfo("Europe/Berlin")
    assert run.since == datetime(2026, 1, 5, 10, 30, tzinfo=berlin)
    assert run.until == datetime(2026, 1, 6, 8, 0, tzinfo=berlin)
    assert run.created_by.username == "oscar"
    assert steps == [0]

    refused = operator.post(url, {"since": "2026-01-06T08:00", "until": "2026-01-05T10:30"})
    assert b"Since must be before Until." in refused.content
    assert BacktestRun.objects.count() == 1


def test_it_shows_progress_and_cancels_from_the_admin(operator, orders, block, queued):
    orders(("ord_1", 9000, hours_ago(1)))
    operator.post(f"/admin/rules/block/{block.pk}/backtest/", {"since": "", "until": ""})
    run = BacktestRun.objects.get()
    page = operator.get(f"/admin/rules/backtestrun/{run.pk}/change/")
    assert b'id="cancel-backtest"' in page.content
    assert b"setTimeout(poll" in page.content
    progress = operator.get(f"/admin/rules/backtestrun/{run.pk}/progress.json").json()
    assert progress == {"status": "queued", "finished": False, "total": None, "done": 0,
                        "orders_matched": 0, "error": ""}  # fmt: skip

    assert operator.get(f"/admin/rules/backtestrun/{run.pk}/cancel/").status_code == 405
    cancelled = operator.post(f"/admin/rules/backtestrun/{run.pk}/cancel/", follow=True)
    assert b"The backtest was cancelled." in cancelled.content
    assert b'id="cancel-backtest"' not in cancelled.content
    run.refresh_from_db()
    assert run.status == BacktestStatus.CANCELLED


def test_it_shows_a_finished_run_with_links(operator, orders, block):
    (event,) = orders(("ord_1", 9000, hours_ago(1)))
    run = backtest_run_start(block=block, queue=False)
    backtest_run_step(str(run.pk), 0, requeue=False)
    page = operator.get(f"/admin/rules/backtestrun/{run.pk}/change/").content.decode()
    assert 'id="orders-matched">1<' in page
    assert 'id="total-value">9000<' in page
    assert f'href="/admin/webhooks/event/{event.pk}/change/"' in page
    assert 'href="/admin/rules/order/?q=ord_1"' in page
    assert "setTimeout(poll" not in page  # finished: no more polling
    listing = operator.get("/admin/rules/backtestrun/")
    assert listing.status_code == 200 and block.name.encode() in listing.content


# --- The API -----------------------------------------------------------------------------------

RESULT_KEYS = {"id", "block_id", "action", "since", "until", "events_evaluated", "orders_matched",
               "would_hold", "total_value", "sample", "truncated", "outcomes"}  # fmt: skip


def test_it_answers_a_short_backtest_at_once(api, orders, block):
    orders(("ord_1", 9000, hours_ago(1)), ("ord_2", 100, hours_ago(1)))
    holds, audit = HeldOrder.objects.count(), AuditEntry.objects.count()
    response = api("oscar").post(f"/api/v2/blocks/{block.block_id}/backtest/", {}, format="json")
    assert response.status_code == 200
    result = response.json()
    assert set(result) == RESULT_KEYS
    assert (result["orders_matched"], result["would_hold"], result["total_value"]) == (1, 1, "9000")
    assert (HeldOrder.objects.count(), AuditEntry.objects.count()) == (holds, audit)

    run = api("oscar").get(f"/api/v2/backtests/{result['id']}/").json()
    assert (run["status"], run["progress"], run["block_id"]) == (
        "done", {"done": 2, "total": 2}, block.block_id,
    )  # fmt: skip
    assert run["result"] == result
    assert run["url"] == f"/api/v2/backtests/{result['id']}/"


def test_it_answers_202_and_a_url_to_follow_when_the_run_takes_longer(
    api, orders, block, settings, queued, django_capture_on_commit_callbacks
):
    steps, run_next = queued
    settings.HOOKDESK = {**settings.HOOKDESK, "BACKTEST_WAIT_SECONDS": 0}
    orders(("ord_1", 9000, hours_ago(1)))
    client = api("oscar")
    body = {"since": hours_ago(2).isoformat(), "until": timezone.now().isoformat()}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v2/blocks/{block.block_id}/backtest/", body, format="json")
    assert response.status_code == 202
    accepted = response.json()
    assert accepted == {"id": accepted["id"], "status": "queued",
                        "progress": {"done": 0, "total": None},
                        "url": f"/api/v2/backtests/{accepted['id']}/"}  # fmt: skip
    assert steps == [0]  # left to the cluster
    assert client.get(accepted["url"]).json()["result"] is None

    run_next(BacktestRun.objects.get(pk=accepted["id"]))
    done = client.get(accepted["url"]).json()
    assert (done["status"], done["progress"]) == ("done", {"done": 1, "total": 1})
    assert done["result"]["orders_matched"] == 1 and done["result"]["id"] == accepted["id"]
    refused = client.post(f"{accepted['url']}cancel/")
    assert refused.status_code == 409 and "error" in refused.json()


def test_it_cancels_a_run_through_the_api(api, orders, block, settings, queued):
    settings.HOOKDESK = {**settings.HOOKDESK, "BACKTEST_WAIT_SECONDS": 0}
    client = api("oscar")
    accepted = client.post(f"/api/v2/blocks/{block.block_id}/backtest/", {}, format="json").json()
    cancelled = client.post(f"/api/v2/backtests/{accepted['id']}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert api("audrey").post(f"/api/v2/backtests/{accepted['id']}/cancel/").status_code == 403
    assert api("audrey").get(f"/api/v2/backtests/{accepted['id']}/").status_code == 403
    assert client.get("/api/v2/backtests/not-a-uuid/").status_code == 404


def test_it_answers_json_500_for_a_failed_backtest(api, orders, block, monkeypatch):
    orders(("ord_1", 9000, hours_ago(1)))
    monkeypatch.setattr(backtest, "ofac_regions", lambda: 1 / 0)
    response = api("oscar").post(f"/api/v2/blocks/{block.block_id}/backtest/", {}, format="json")
    assert response.status_code == 500
    assert response.json()["error"] == "the backtest failed; it has been logged"
    assert BacktestRun.objects.get().status == BacktestStatus.FAILED
