"""Re-checking the open queue in a real browser: operations preview an unsaved edit on the
block's page and disable the block; a reviewer sees the holds it no longer holds and releases
them in bulk with one reason. At 1400 px, and at 390 px without sideways scroll."""

import os
import tempfile
from pathlib import Path

import pytest

from core.models import AuditEntry
from rules.models import Block, BlockStatus, HeldOrder
from rules.services import block_create
from tests.admin.conftest import follow, order_created
from tests.support.events import deliver, process

pytestmark = pytest.mark.django_db(transaction=True)

WIDE, PHONE = 1400, 390
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth - window.innerWidth"
SCREENSHOTS = Path(
    os.environ.get(
        "HOOKDESK_TEST_ARTIFACTS", Path(tempfile.gettempdir()) / "hookdesk-test-artifacts"
    )
)
SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def queue(hold_for, high_value_block):
    """ "High value" (> 5000) holds three orders; "Very high" (> 20000) would hold the last."""
    block_create(name="Very high", condition="order_value > 20000", priority=200)
    holds = [hold_for(order_id, amount) for order_id, amount in
             [("ord_rc_6k", 6000), ("ord_rc_9k", 9000), ("ord_rc_25k", 25000)]]  # fmt: skip
    process(deliver(*hold_for.endpoint, order_created("ord_rc_4k", 4500)))
    return holds


def block_page(console, user: str, block: Block, width: int):
    page = console.login(user, width=width)
    page.goto(console.url + f"/admin/rules/block/{block.pk}/change/")
    return page


def test_it_previews_an_edit_before_it_is_saved(console, queue, high_value_block):
    page = block_page(console, "oscar", high_value_block, WIDE)
    page.fill("#id_condition", "order_value > 4000 and order_value < 8000")
    page.click("#recheck-preview")
    page.wait_for_selector("#recheck-result #recheck-answer")
    assert page.inner_text("#recheck-lost-count") == "1"  # 9000
    assert page.inner_text("#recheck-new-count") == "1"
    assert "ord_rc_4k" in page.inner_text("#recheck-new")
    assert "ord_rc_9k" in page.inner_text("#recheck-lost")

    page.fill("#id_condition", "order_value >")
    page.click("#recheck-preview")
    page.wait_for_selector("#recheck-error")
    assert "at column 14" in page.inner_text("#recheck-error")
    page.screenshot(path=str(SCREENSHOTS / "recheck-preview-1400.png"), full_page=True)
    assert Block.objects.get(pk=high_value_block.pk).version == 1  # nothing was saved


def test_it_disables_a_block_and_releases_the_holds_it_no_longer_holds(
    console, queue, high_value_block
):
    # Operations disable the block: its page leads on to the holds nothing holds any more.
    page = block_page(console, "oscar", high_value_block, WIDE)
    page.select_option("#id_status", BlockStatus.DISABLED)
    page.click("#recheck-preview")
    page.wait_for_selector("#recheck-result #recheck-answer")
    assert page.inner_text("#recheck-lost-count") == "2"
    follow(page, "input[name=_save]")
    assert page.url.endswith(f"/admin/rules/block/{high_value_block.pk}/recheck/")
    assert page.inner_text("#recheck-block-status") == "Disabled"
    assert page.locator("#recheck-release-who").is_visible()  # operations do not release

    # A reviewer finds them from the block's page and releases them with one reason.
    page = block_page(console, "alice", high_value_block, WIDE)
    follow(page, "#open-holds-owned a")
    assert page.inner_text("#recheck-lost-count") == "2"
    assert page.inner_text("#recheck-other-count") == "1"
    lost = page.inner_text("#recheck-lost")
    assert "ord_rc_6k" in lost and "ord_rc_9k" in lost and "ord_rc_25k" not in lost
    assert "ord_rc_25k" in page.inner_text("#recheck-other")
    page.screenshot(path=str(SCREENSHOTS / "recheck-1400.png"), full_page=True)
    page.fill("#recheck-release textarea[name=reason]", "Rule retired: orders verified")
    follow(page, "#recheck-release-all")

    assert "2 released" in page.inner_text(".messagelist")
    assert page.inner_text("#recheck-lost-count") == "0"
    released = HeldOrder.objects.filter(status="released")
    assert sorted(h.order.order_id for h in released) == ["ord_rc_6k", "ord_rc_9k"]
    assert HeldOrder.objects.get(order__order_id="ord_rc_25k").status == "held"
    audited = AuditEntry.objects.filter(action="hold.released")
    assert sorted(e.object_id for e in audited) == sorted(h.pk for h in released)
    assert {(e.reason, e.actor_label) for e in audited} == {
        ("Rule retired: orders verified", "alice")
    }


def test_the_recheck_fits_a_390_px_phone(console, queue, high_value_block):
    page = block_page(console, "oscar", high_value_block, PHONE)
    page.select_option("#id_status", BlockStatus.DISABLED)
    page.click("#recheck-preview")
    page.wait_for_selector("#recheck-result #recheck-answer")
    assert page.evaluate(NO_SIDEWAYS_SCROLL) == 0
    follow(page, "input[name=_save]")

    page = block_page(console, "alice", high_value_block, PHONE)
    follow(page, "#recheck-link")
    assert page.evaluate(NO_SIDEWAYS_SCROLL) == 0
    assert page.locator("#recheck-release-all").bounding_box()["width"] <= PHONE
    page.screenshot(path=str(SCREENSHOTS / "recheck-390.png"), full_page=True)
