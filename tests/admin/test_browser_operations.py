"""Operations in a real browser: rotating a secret (shown once, grace window, expire now), a
test event, replay by filter with its progress page on a real django-q2 cluster, a dry run
that changes nothing, the dashboard's charts, an alert that trips and is e-mailed, blocks."""

import json

import pytest
from django.core import mail
from django.test import Client

from console.alerts import alerts_evaluate_task
from core.models import AuditEntry
from rules.models import BacktestRun, Block, BlockStatus, Decision, HeldOrder
from rules.services import block_create
from tests.admin.conftest import follow, order_created
from tests.postgres import requires_postgres
from tests.signing import as_meta, procureiq_headers
from tests.support.events import deliver, process
from webhooks.models import AttemptTrigger, AuditAction, Delivery, Event, ProcessingAttempt

pytestmark = pytest.mark.django_db(transaction=True)


def post_signed(endpoint, secret: str, payload: dict) -> int:
    body = json.dumps(payload).encode()
    response = Client().post(
        endpoint.receiver_path,
        data=body,
        content_type="application/json",
        **as_meta(procureiq_headers(body, secret)),
    )
    return response.status_code


def test_it_shows_a_rotated_secret_once_and_honours_grace_and_expiry(console, make_endpoint):
    endpoint, old_secret = make_endpoint("procureiq")
    old_fingerprint = endpoint.secrets.get().fingerprint
    page = console.login("oscar")
    page.goto(console.url + f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    assert console.url + f"/webhooks/{endpoint.slug}/" in page.inner_text(".hd-receiver-url")
    page.select_option("#id_grace", "1h")
    follow(page, "#rotate-button")

    new_secret = page.inner_text("#secret-value")
    assert new_secret.startswith("hdk_") and new_secret != old_secret
    assert page.locator("#copy-secret").count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.SECRET_ROTATED).count() == 1

    page.reload()
    assert new_secret not in page.content()
    page.goto(console.url + f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    assert new_secret not in page.content()
    # A reload re-posts the rotation form: refused, not a second rotation.
    assert endpoint.secrets.count() == 2

    assert post_signed(endpoint, new_secret, order_created("ord_new_secret", 10)) == 200
    assert post_signed(endpoint, old_secret, order_created("ord_grace", 10)) == 200
    page.reload()
    old_row = page.locator(f"tr.hd-secret-row[data-fingerprint='{old_fingerprint}']")
    assert "valid (grace)" in old_row.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        old_row.locator(".hd-expire").click()
    assert "expired" in page.inner_text(".messagelist")
    assert post_signed(endpoint, old_secret, order_created("ord_after_expiry", 10)) == 401
    assert post_signed(endpoint, new_secret, order_created("ord_still_new", 10)) == 200


def test_it_sends_a_test_event_to_its_own_receiver(console, make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    page = console.login("oscar")
    page.goto(console.url + f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    # A production endpoint: the test event may create a hold reviewers can see.
    page.check("#id_confirm_production")
    follow(page, "#test-event-button")
    assert "the receiver answered 200 and stored event" in page.inner_text(".messagelist")
    event = Event.objects.get(endpoint=endpoint, event_type="order.created")
    delivery = Delivery.objects.get(event=event)
    assert (delivery.remote_addr, delivery.headers["user-agent"]) == (
        "127.0.0.1",
        "hookdesk-test-sender/1",
    )

    follow(page, ".messagelist a#test-event-link")
    assert page.url == console.url + f"/admin/webhooks/event/{event.pk}/change/"
    assert event.pk in page.inner_text("#content")


def _snapshot() -> dict:
    return {
        "holds": HeldOrder.objects.count(),
        "decisions": Decision.objects.count(),
        "audit": AuditEntry.objects.count(),
        "attempts": ProcessingAttempt.objects.count(),
        "events": sorted(Event.objects.values_list("pk", "status", "attempts")),
    }


@requires_postgres()  # the cluster process reaches the test database by its PostgreSQL URL
@pytest.mark.cluster
def test_it_dry_runs_then_replays_by_filter_on_a_cluster(console, make_endpoint, qcluster):
    chosen, secret = make_endpoint("procureiq", slug="replay-me")
    other, other_secret = make_endpoint("procureiq", slug="leave-me")
    events = [deliver(chosen, secret, order_created(f"ord_r{n}", 6000 + n)) for n in range(3)]
    events.append(deliver(other, other_secret, order_created("ord_other", 9000)))
    for event in events:
        process(event)
    # A block made after the events were processed: replaying them now would hold them.
    block_create(name="New rule", condition="order_value > 5000", action="hold")
    qcluster()

    page = console.login("oscar")
    page.goto(console.url + "/admin/webhooks/event/?endpoint=replay-me")
    assert page.locator("#result_list tbody tr").count() == 3
    before = _snapshot()
    follow(page, "#dry-run-matching")
    page.wait_for_selector("#dry-run-result", timeout=60_000)
    assert page.inner_text("#run-done") == "3"
    assert page.inner_text("#run-would-hold") == "3"
    assert "ord_r0" in page.inner_text("#dry-run-result")
    assert "ord_other" not in page.inner_text("#dry-run-result")
    assert _snapshot() == before

    page.goto(console.url + "/admin/webhooks/event/?endpoint=replay-me")
    follow(page, "#replay-matching")
    assert page.inner_text("#replay-count") == "3"
    follow(page, "#confirm-replay")
    page.wait_for_function(
        "document.getElementById('run-status').textContent.trim() === 'Done'", timeout=60_000
    )
    assert page.inner_text("#run-done") == "3"
    assert page.inner_text("#run-failed") == "0"
    assert page.inner_text("#run-processed") == "3"
    replayed = ProcessingAttempt.objects.filter(trigger=AttemptTrigger.REPLAY)
    assert sorted(replayed.values_list("event__endpoint__slug", flat=True)) == ["replay-me"] * 3
    assert HeldOrder.objects.filter(order__order_id__startswith="ord_r").count() == 3
    assert not HeldOrder.objects.filter(order__order_id="ord_other").exists()
    assert AuditEntry.objects.filter(
        action=AuditAction.EVENT_REPLAYED, object_type="replay_run", actor_label="oscar"
    ).exists()


def test_it_draws_the_dashboard_charts(console, hold_for):
    hold_for("ord_chart_1", 9000)
    endpoint, _ = hold_for.endpoint
    assert post_signed(endpoint, "not-the-secret-at-all", order_created("ord_bad", 1)) == 401
    page = console.login("audrey")
    page.goto(console.url + "/admin/console/dashboard/")
    assert page.locator("svg.hd-chart").count() == 4
    assert page.locator("#chart-holds rect.bar").count() >= 1
    assert page.locator("#chart-signature rect.bar").count() >= 1
    assert "1 in 14 days" in page.text_content("#chart-holds")
    assert page.inner_text("#kpi-open-holds") == "1"


def test_it_raises_an_alert_and_emails_it(console, make_endpoint):
    endpoint, _ = make_endpoint("procureiq", slug="noisy")
    page = console.login("oscar")
    page.goto(console.url + "/admin/console/alertthreshold/add/")
    page.fill("#id_name", "Signature failures")
    page.select_option("#id_kind", "signature_failures")
    page.select_option("#id_endpoint", str(endpoint.pk))
    page.fill("#id_limit", "2")
    page.fill("#id_window_minutes", "10")
    page.fill("#id_recipients", "ops@example.com")
    follow(page, "input[name=_save]")
    assert "was added successfully" in page.inner_text(".messagelist")

    for n in range(3):
        assert post_signed(endpoint, "wrong-secret-0123456789", order_created(f"o{n}", 1)) == 401
    assert Delivery.objects.filter(endpoint=endpoint, status_code=401).count() == 3
    mail.outbox.clear()
    assert alerts_evaluate_task() == 1  # the function the alert schedule runs
    assert alerts_evaluate_task() == 0  # once per window, not on every evaluation

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@example.com"]
    assert "noisy" in message.subject
    assert "3 signature failures" in message.body
    assert console.url + "/admin/console/dashboard/" in message.body

    page.goto(console.url + "/admin/console/dashboard/")
    alert = page.locator(".hd-alert")
    assert "Signature failures: 3 on noisy" in alert.inner_text()
    with page.expect_navigation():
        alert.locator("button").click()
    assert page.locator(".hd-alert").count() == 0


def test_it_validates_backtests_and_switches_blocks(console, hold_for):
    hold_for("ord_bt_1", 9000)
    block = Block.objects.get()
    page = console.login("oscar")
    page.goto(console.url + "/admin/rules/block/add/")
    page.fill("#id_name", "Broken")
    page.fill("#id_condition", "order_value >")
    follow(page, "input[name=_save]")
    assert page.locator(".field-condition .errorlist").count() == 1
    assert not Block.objects.filter(name="Broken").exists()

    page.goto(console.url + f"/admin/rules/block/{block.pk}/change/")
    follow(page, "#backtest-link")
    page.fill("#id_since", "2026-01-02T10:00")
    page.fill("#id_until", "2026-01-01T10:00")
    follow(page, "#run-backtest")
    assert "Since must be before Until." in page.inner_text("#content-main")
    assert not BacktestRun.objects.exists()

    page.goto(console.url + "/admin/rules/block/")
    page.check(f"input[name=_selected_action][value='{block.pk}']")
    page.select_option("select[name=action]", "make_shadow")
    follow(page, "button[name=index]")
    block.refresh_from_db()
    assert block.status == BlockStatus.SHADOW
    assert block.versions.count() == 2
