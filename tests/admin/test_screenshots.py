"""Screenshots of the console's main screens for docs/screenshots/. Skipped unless
HOOKDESK_SCREENSHOTS=1:

    HOOKDESK_SCREENSHOTS=1 .venv/bin/python -m pytest tests/admin/test_screenshots.py
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from console import replay
from console.alerts import alerts_evaluate
from console.models import AlertKind, AlertThreshold
from rules.backtest import backtest_run_step
from rules.models import BacktestRun, HeldOrder, HoldStatus
from rules.services import block_create
from tests.admin.conftest import follow, order_created
from tests.admin.test_browser_operations import post_signed
from tests.support.events import deliver, process

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        os.environ.get("HOOKDESK_SCREENSHOTS") != "1", reason="set HOOKDESK_SCREENSHOTS=1"
    ),
]
OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_it_takes_the_screenshots(console, make_endpoint, hold_for, monkeypatch):
    endpoint, secret = hold_for.endpoint
    # A fortnight of holds, so the chart has a shape; the newest four stay open.
    amounts = [9200, 12750, 6100, 48000, 7300, 15500, 5600, 22000, 8100, 6400, 31000, 9900]
    for n, amount in enumerate(amounts):
        hold = hold_for(f"ord_1{n:02d}4", amount, customer=f"cus_{7700 + n % 5}")
        if n >= 4:
            HeldOrder.objects.filter(pk=hold.pk).update(
                created_at=timezone.now() - timedelta(days=n % 9 + 1),
                status=HoldStatus.RELEASED,
            )
    for n in range(6):
        process(deliver(endpoint, secret, order_created(f"ord_20{n}", 120 + n * 40)))
    other, _ = make_endpoint("autranex", slug="autranex-prod")
    for n in range(4):
        post_signed(endpoint, "stale-secret-0123456789", order_created(f"x{n}", 1))
    AlertThreshold.objects.create(
        name="Signature failures", kind=AlertKind.SIGNATURE_FAILURES, limit=3,
        recipients="ops@example.com",
    )  # fmt: skip
    alerts_evaluate()
    block_create(name="Card testing", condition="payment_methods_count > 2", action="hold",
                 status="shadow")  # fmt: skip

    shots = {}
    page = console.login("oscar")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(console.url + "/admin/console/dashboard/")
    shots["dashboard"] = page
    page.screenshot(path=OUT / "dashboard.png", full_page=True)

    reviewer = console.login("alice")
    reviewer.set_viewport_size({"width": 1400, "height": 800})
    reviewer.goto(console.url + "/admin/rules/heldorder/?status__exact=held")
    reviewer.screenshot(path=OUT / "review-queue.png", full_page=True)
    with reviewer.expect_navigation():
        reviewer.locator("#result_list tbody tr a").first.click()
    reviewer.fill("#id_reason", "Customer verified by phone; PO matches contract")
    reviewer.screenshot(path=OUT / "held-order.png", full_page=True)

    page.goto(console.url + f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    page.screenshot(path=OUT / "endpoint.png", full_page=True)
    page.select_option("#id_grace", "24h")
    follow(page, "#rotate-button")
    page.screenshot(path=OUT / "secret-rotated.png", full_page=True)

    page.goto(console.url + f"/admin/webhooks/event/?endpoint={endpoint.slug}")
    page.screenshot(path=OUT / "events.png", full_page=True)

    block_create(name="Trial: every order over 100", condition="order_value > 100", action="hold")
    monkeypatch.setattr(replay, "replay_run_enqueue", lambda run: None)
    run = replay.replay_run_start(
        dry_run=True, filters={"endpoint": endpoint.slug}, description=f"endpoint={endpoint.slug}"
    )
    replay.replay_run_step(str(run.pk), 0)
    page.goto(console.url + f"/admin/console/replayrun/{run.pk}/change/")
    page.screenshot(path=OUT / "dry-run.png", full_page=True)

    page.goto(console.url + "/admin/rules/block/")
    with page.expect_navigation():
        page.locator("#result_list tbody tr a", has_text="High value").click()
    follow(page, "#backtest-link")
    follow(page, "#run-backtest")
    backtest_run_step(str(BacktestRun.objects.get().pk), 0)  # what the cluster would run
    page.wait_for_selector("#backtest-result")
    page.screenshot(path=OUT / "backtest.png", full_page=True)
    assert other.slug == "autranex-prod"
