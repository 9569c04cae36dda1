"""Blocks in a real browser, as Operations manage them: create one, edit it, and see the
version history and the audit trail follow."""

import pytest

from core.models import AuditEntry
from rules.models import AuditAction, Block, BlockStatus
from tests.admin.conftest import follow

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_creates_a_block_from_the_add_form(console):
    page = console.login("oscar")
    page.goto(console.url + "/admin/rules/block/add/")
    page.fill("#id_name", "New customer, large order")
    page.fill("#id_condition", "order_value > 2000 and customer_age_days < 30")
    follow(page, "input[name=_save]")

    assert page.url.endswith("/admin/rules/block/")
    assert "was added successfully" in page.inner_text(".messagelist")
    block = Block.objects.get(name="New customer, large order")
    assert block.condition == "order_value > 2000 and customer_age_days < 30"
    assert (block.status, block.version) == (BlockStatus.ACTIVE, 1)
    assert list(block.versions.values_list("version", flat=True)) == [1]
    created = AuditEntry.objects.get(action=AuditAction.BLOCK_CREATED)
    assert created.object_id == block.block_id
    assert created.actor_label == "oscar"


def test_it_saves_an_edited_priority_as_a_new_version(console, high_value_block):
    page = console.login("oscar")
    page.goto(console.url + f"/admin/rules/block/{high_value_block.pk}/change/")
    page.fill("#id_priority", "7")
    follow(page, "input[name=_save]")

    assert "was changed successfully" in page.inner_text(".messagelist")
    high_value_block.refresh_from_db()
    assert (high_value_block.priority, high_value_block.version) == (7, 2)
    assert sorted(high_value_block.versions.values_list("version", flat=True)) == [1, 2]
    changed = AuditEntry.objects.get(action=AuditAction.BLOCK_CHANGED)
    assert changed.before["priority"] != 7 and changed.after["priority"] == 7

    page.goto(console.url + f"/admin/rules/block/{high_value_block.pk}/change/")
    assert page.locator(".field-version .readonly").inner_text() == "2"
    history = page.locator("#versions-group, .inline-group").first.inner_text()
    assert "2" in history and "oscar" in history


def test_it_saves_nothing_when_a_field_is_refused(console, high_value_block):
    page = console.login("oscar")
    page.goto(console.url + f"/admin/rules/block/{high_value_block.pk}/change/")
    page.fill("#id_condition", "order_value >")
    page.fill("#id_priority", "3")
    follow(page, "input[name=_save]")

    assert page.locator(".field-condition .errorlist").count() == 1
    high_value_block.refresh_from_db()
    assert (high_value_block.priority, high_value_block.version) != (3, 2)
    assert high_value_block.version == 1
    assert not AuditEntry.objects.filter(action=AuditAction.BLOCK_CHANGED).exists()
