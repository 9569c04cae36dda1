"""The review queue as reviewers work it every day, in Chromium: at 1400 px every column fits,
each block is listed once, a hold waiting for a second reviewer says so, Next hold, the
keyboard alone clears a queue, and at phone width the queue and a hold are cards."""

import os
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from rules.models import HeldOrder, HoldStatus
from rules.services import block_update, review_policy_set
from tests.admin.conftest import follow

pytestmark = pytest.mark.django_db(transaction=True)

# Screenshots of the phone-width pages, to look at after a run.
SCREENSHOTS = Path(
    os.environ.get(
        "HOOKDESK_TEST_ARTIFACTS", Path(tempfile.gettempdir()) / "hookdesk-test-artifacts"
    )
)
SCREENSHOTS.mkdir(parents=True, exist_ok=True)

NO_SIDEWAYS_SCROLL = """() => {
  const results = document.querySelector('#changelist .results') || document.body;
  return {
    page: document.documentElement.scrollWidth - window.innerWidth,
    results: results.scrollWidth - results.clientWidth,
  };
}"""


def _overflow(page) -> dict:
    return page.evaluate(NO_SIDEWAYS_SCROLL)


def test_the_queue_fits_1400_px_and_lists_each_block_once(console, hold_for, high_value_block):
    for version in range(3):  # a block edited three times is still one block
        block_update(block=high_value_block, priority=10 + version, reason="tuning")
    for number in range(6):
        hold_for(f"ord_wide_{number}_{'x' * 30}", 9000 + number, customer=f"cus_{'y' * 40}")

    page = console.login("alice", width=1400)
    page.goto(console.url + "/admin/rules/heldorder/")

    assert _overflow(page) == {"page": 0, "results": 0}
    page.screenshot(path=str(SCREENSHOTS / "queue-1400.png"))
    reasons = page.locator("#result_list .hd-reasons").first
    line = float(reasons.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 16"))
    assert reasons.bounding_box()["height"] <= 2 * line + 12  # one or two lines
    # The block is in its column, not repeated at the head of the reasons.
    assert high_value_block.name not in reasons.inner_text()
    choices = page.locator("#changelist-filter a", has_text=high_value_block.name)
    assert choices.count() == 1


def test_a_hold_waiting_for_a_second_reviewer_has_its_own_state_and_filter(
    console, hold_for, staff
):
    review_policy_set(four_eyes_amount=Decimal("5000"), actor=staff["oscar"])
    waiting, fresh = hold_for("ord_four_1", 9000), hold_for("ord_four_2", 9500)

    alice = console.login("alice", width=1400)
    alice.goto(console.url + f"/admin/rules/heldorder/{waiting.pk}/change/")
    alice.fill("#id_reason", "Verified by phone")
    follow(alice, "#release-button")
    assert alice.inner_text("#hold-awaiting") == "awaiting 2nd reviewer"

    second = User.objects.create_user("bea", password="bea-pass-0123", is_staff=True)
    second.groups.add(Group.objects.get(name="Compliance reviewer"))
    bea = console.login("bea", "bea-pass-0123", width=1400)
    bea.goto(console.url + "/admin/rules/heldorder/")
    row = bea.locator("#result_list tbody tr", has_text="ord_four_1")
    assert "awaiting 2nd reviewer" in row.inner_text()
    follow(bea, "#changelist-filter a:has-text('Waiting for a second reviewer')")
    listed = bea.locator("#result_list tbody tr")
    assert listed.count() == 1 and "ord_four_1" in listed.inner_text()

    # The bulk page says what a release will do to each.
    bea.goto(console.url + "/admin/rules/heldorder/?status__exact=held")
    for hold in (waiting, fresh):
        bea.check(f"input[name=_selected_action][value='{hold.pk}']")
    bea.select_option("select[name=action]", "release_selected")
    follow(bea, "button[name=index]")
    assert "1 of these will need a second reviewer" in bea.inner_text("#bulk-four-eyes")
    assert "1 of these already wait for a second reviewer" in bea.inner_text("#bulk-confirming")
    bea.fill("#id_reason", "Both verified")
    follow(bea, "#bulk-apply")

    waiting.refresh_from_db()
    fresh.refresh_from_db()
    assert waiting.status == HoldStatus.RELEASED  # bea confirmed alice's release
    assert fresh.status == HoldStatus.HELD  # bea's own release now waits for a second reviewer


def test_a_reviewer_clears_a_queue_of_ten_holds_with_the_keyboard_alone(console, hold_for):
    holds = [hold_for(f"ord_keys_{number:02d}", 6000 + number) for number in range(10)]

    page = console.login("alice", width=1400)
    page.goto(console.url + "/admin/rules/heldorder/?status__exact=held")
    page.keyboard.press("j")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "ord_keys_00" in page.inner_text("#hold-summary")

    for number in range(10):
        key = "x" if number % 3 == 0 else "r"
        page.keyboard.press(key)
        page.keyboard.type(f"checked {number}")
        with page.expect_navigation():
            page.keyboard.press("Control+Enter")
        assert ("rejected" if key == "x" else "released") in page.inner_text(".messagelist")
        if number < 9:
            with page.expect_navigation():
                page.keyboard.press("j")  # Next hold
    assert page.locator("#queue-clear").count() == 1

    for number, hold in enumerate(holds):
        hold.refresh_from_db()
        expected = HoldStatus.REJECTED if number % 3 == 0 else HoldStatus.RELEASED
        assert (hold.status, hold.decision_reason) == (expected, f"checked {number}")


def test_next_hold_opens_the_oldest_other_open_hold(console, hold_for):
    first, second, third = (hold_for(f"ord_next_{n}", 7000) for n in range(3))
    page = console.login("alice", width=1400)
    page.goto(console.url + f"/admin/rules/heldorder/{first.pk}/change/")
    page.fill("#id_reason", "fine")
    follow(page, "#release-button")

    follow(page, "#next-hold")
    assert "ord_next_1" in page.inner_text("#hold-summary")
    follow(page, "#next-hold")
    assert "ord_next_2" in page.inner_text("#hold-summary")
    follow(page, "#previous-hold")
    assert "ord_next_1" in page.inner_text("#hold-summary")
    assert HeldOrder.objects.get(pk=second.pk).status == HoldStatus.HELD
    assert third.pk


def test_the_queue_and_a_hold_are_cards_at_phone_width(console, hold_for):
    hold = hold_for(f"ord_phone_{'z' * 40}", 12000, customer="cus_phone_customer_with_a_long_id")
    hold_for("ord_phone_2", 8000)

    page = console.login("alice", width=390)
    page.goto(console.url + "/admin/rules/heldorder/")
    assert _overflow(page) == {"page": 0, "results": 0}
    card = page.locator("#result_list tbody tr").first
    assert card.evaluate("e => getComputedStyle(e).display") == "grid"
    assert card.bounding_box()["width"] <= 390
    labels = card.evaluate(
        """row => Array.from(row.querySelectorAll('td, th')).map(
            cell => getComputedStyle(cell, '::before').content)"""
    )
    assert {'"Order"', '"Amount"', '"Customer"', '"Reasons"'} <= set(labels)
    page.screenshot(path=str(SCREENSHOTS / "queue-390.png"), full_page=True)

    page.goto(console.url + f"/admin/rules/heldorder/{hold.pk}/change/")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") == 0
    page.screenshot(path=str(SCREENSHOTS / "hold-390.png"), full_page=True)
    page.fill("#id_reason", "Checked on the phone")
    follow(page, "#release-button")
    hold.refresh_from_db()
    assert hold.status == HoldStatus.RELEASED
