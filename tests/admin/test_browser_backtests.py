"""Backtests in a real browser at 1400 px: from a block to its backtest, an empty form (the last
7 days), the progress page that follows the run by itself, the result with its links; on a
real django-q2 cluster, and step by step with a cancel between chunks."""

import pytest

from rules import backtest
from rules.models import BacktestRun, BacktestStatus, Block
from tests.admin.conftest import follow, order_created
from tests.postgres import requires_postgres
from tests.support.events import deliver, process

pytestmark = pytest.mark.django_db(transaction=True)
WIDE = 1400


def open_backtest(console, block_name: str):
    page = console.login("oscar", width=WIDE)
    page.goto(console.url + "/admin/rules/block/")
    with page.expect_navigation():
        page.locator("#result_list tbody tr a", has_text=block_name).click()
    follow(page, "#backtest-link")
    assert page.get_attribute("#id_since", "type") == "datetime-local"
    assert page.get_attribute("#id_until", "type") == "datetime-local"
    return page


@requires_postgres()  # the cluster process reaches the test database by its PostgreSQL URL
@pytest.mark.cluster
def test_it_backtests_on_a_cluster_from_an_empty_form(console, hold_for, qcluster):
    hold = hold_for("ord_bt_1", 9000)
    process(deliver(*hold_for.endpoint, order_created("ord_bt_small", 100)))
    qcluster()
    page = open_backtest(console, "High value")
    follow(page, "#run-backtest")

    run = BacktestRun.objects.get()
    assert page.url == console.url + f"/admin/rules/backtestrun/{run.pk}/change/"
    assert page.locator("#backtest-run").is_visible()
    page.wait_for_selector("#backtest-result", timeout=60_000)
    assert page.inner_text("#run-status") == "Done"
    assert page.inner_text("#run-done") == page.inner_text("#run-total") == "2"
    assert page.inner_text("#orders-matched") == "1"
    assert page.inner_text("#total-value") == "9000"
    assert page.locator("#cancel-backtest").count() == 0
    with page.expect_navigation():
        page.locator("#backtest-sample a", has_text=hold.event_id).click()
    assert page.url == console.url + f"/admin/webhooks/event/{hold.event_id}/change/"
    run.refresh_from_db()
    assert (run.until - run.since).days == 7


def test_it_follows_a_run_and_cancels_it_between_chunks(console, hold_for, monkeypatch):
    for n in range(3):
        hold_for(f"ord_bt_{n}", 9000 + n)
    steps = []
    monkeypatch.setattr(backtest, "backtest_run_enqueue", lambda run: steps.append(run.chunk))
    monkeypatch.setattr(backtest, "BACKTEST_CHUNK_EVENTS", 1)
    page = open_backtest(console, "High value")
    follow(page, "#run-backtest")
    run = BacktestRun.objects.get(block=Block.objects.get(name="High value"))
    assert page.inner_text("#run-status") == "Queued"

    # What the cluster would run: one chunk; the open page picks the progress up by itself.
    backtest.backtest_run_step(str(run.pk), steps.pop(0))
    page.wait_for_function("document.getElementById('run-done').textContent.trim() === '1'")
    assert page.inner_text("#run-total") == "3"
    assert page.inner_text("#run-status") == "Running"

    follow(page, "#cancel-backtest")
    assert "The backtest was cancelled." in page.inner_text(".messagelist")
    backtest.backtest_run_step(str(run.pk), steps.pop(0))  # the chunk queued before the cancel
    page.reload()
    assert page.inner_text("#run-status") == "Cancelled"
    assert page.inner_text("#orders-matched") == "1"
    assert page.locator("#cancel-backtest").count() == 0
    run.refresh_from_db()
    assert (run.status, run.done, steps) == (BacktestStatus.CANCELLED, 1, [])
