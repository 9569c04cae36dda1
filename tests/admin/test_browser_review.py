"""The review queue in a real browser: roles, releasing a new hold with a reason, bulk
decisions, four eyes, and what reviewers and auditors may not do."""

import pytest
from django.contrib.auth.models import Group, User

from core.models import AuditEntry
from rules.models import AuditAction, HoldStatus
from rules.services import review_policy_set
from tests.admin.conftest import follow

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_lets_each_role_in_with_what_its_work_needs(console):
    expectations = {
        "alice": ("Held orders", "Review queue"),
        "oscar": ("Endpoints", "Replay runs"),
        "audrey": ("Audit trail", "Events"),
    }
    for username, visible in expectations.items():
        page = console.login(username)
        assert "hookdesk" in page.title()
        text = page.inner_text("#content")
        for label in visible:
            assert label in text, (username, label)
        page.goto(console.url + "/admin/console/dashboard/")
        assert page.locator("svg.hd-chart").count() == 4
    page = console.login("mallory")
    assert "permission" in page.inner_text("#content").lower()
    response = page.goto(console.url + "/admin/console/dashboard/")
    assert response.status == 403


def test_it_lets_a_reviewer_release_a_new_hold_with_a_reason(console, hold_for):
    hold = hold_for("ord_review_1", 9000, customer="cus_review")
    page = console.login("alice")
    follow(page, "#user-tools >> text=Review queue")
    row = page.locator("#result_list tbody tr", has_text="ord_review_1")
    assert row.count() == 1
    assert "9,000.00 USD" in row.inner_text()
    assert "High value" in row.inner_text()
    with page.expect_navigation():
        row.locator("a:has-text('ord_review_1')").click()

    assert "order_value > 5000" in page.inner_text("#hold-reasons")
    assert '"orderId": "ord_review_1"' in page.inner_text("#payload")
    assert "order.created received" in page.inner_text("#timeline")
    page.fill("#id_reason", "Customer verified by phone")
    follow(page, "#release-button")

    assert "released" in page.inner_text(".messagelist")
    assert page.inner_text("#hold-status") == "released"
    trail = page.inner_text("#audit-trail")
    assert "Hold released" in trail
    assert "alice" in trail
    assert "Customer verified by phone" in trail
    hold.refresh_from_db()
    assert hold.status == HoldStatus.RELEASED
    assert hold.reviewer.username == "alice"


def test_it_rejects_holds_in_bulk_with_one_reason(console, hold_for):
    first, second = hold_for("ord_bulk_1", 7000), hold_for("ord_bulk_2", 8000)
    page = console.login("alice")
    page.goto(console.url + "/admin/rules/heldorder/?status__exact=held")
    for hold in (first, second):
        page.check(f"input[name=_selected_action][value='{hold.pk}']")
    page.select_option("select[name=action]", "reject_selected")
    follow(page, "button[name=index]")
    page.fill("#id_reason", "Sanctioned destination")
    follow(page, "#bulk-apply")

    assert "2 rejected" in page.inner_text(".messagelist")
    for hold in (first, second):
        hold.refresh_from_db()
        assert hold.status == HoldStatus.REJECTED
        assert hold.decision_reason == "Sanctioned destination"


def test_it_needs_a_second_reviewer_above_the_four_eyes_amount(console, hold_for, staff):
    review_policy_set(four_eyes_amount=10_000, actor=staff["oscar"])
    hold = hold_for("ord_big_1", 25_000)
    bob = User.objects.create_user("bob", password="bob-pass-0123", is_staff=True)
    bob.groups.add(Group.objects.get(name="Compliance reviewer"))

    page = console.login("alice")
    page.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    assert "four-eyes" in page.inner_text("#decide")
    page.fill("#id_reason", "Known customer")
    follow(page, "#release-button")
    assert "waiting for a second reviewer" in page.inner_text(".messagelist")
    assert "a different reviewer must confirm" in page.inner_text("#pending-release")
    assert page.locator("#confirm-release").count() == 0
    hold.refresh_from_db()
    assert hold.status == HoldStatus.HELD

    page = console.login("bob", "bob-pass-0123")
    page.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    page.fill("#id_confirm_reason", "Checked the contract")
    follow(page, "#confirm-release")
    assert page.inner_text("#hold-status") == "released"
    trail = page.inner_text("#audit-trail")
    assert "Release awaiting confirmation" in trail
    assert "Hold released" in trail
    hold.refresh_from_db()
    assert hold.reviewer == bob
    assert "requested by alice, confirmed by bob" in hold.decision_reason


def test_it_keeps_an_auditor_read_only(console, hold_for):
    hold = hold_for("ord_audit_1", 9000)
    page = console.login("audrey")
    page.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    assert page.locator("#audit-trail").count() == 1
    assert page.locator("#decide").count() == 0
    page.goto(console.url + "/admin/rules/heldorder/")
    assert page.locator("select[name=action]").count() == 0
    page.goto(console.url + f"/admin/webhooks/endpoint/{hold_for.endpoint[0].pk}/change/")
    assert page.locator("#rotate").count() == 0
    assert page.locator("#test-event").count() == 0
    assert not AuditEntry.objects.filter(action=AuditAction.HOLD_RELEASED).exists()


def test_it_does_not_let_a_reviewer_rotate_secrets(console, make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    page = console.login("alice")
    page.goto(console.url + f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    assert page.locator("#secrets").count() == 1
    assert page.locator("#rotate").count() == 0
    assert page.locator(".hd-expire").count() == 0
    response = page.goto(console.url + f"/admin/webhooks/endpoint/{endpoint.pk}/rotate/")
    assert response.status == 403
    assert endpoint.secrets.count() == 1
