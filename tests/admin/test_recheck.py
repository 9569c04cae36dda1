"""The block's re-check in the admin: the preview of an unsaved edit, the page a disabled block
leads to, and releasing the holds nothing holds any more with one reason, through the bulk
decision path (four eyes and the audit trail per hold)."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from core.models import AuditEntry
from rules.models import Block, HeldOrder, ReleaseRequest
from rules.services import block_create, block_update, review_policy_set
from tests.admin.conftest import order_created
from tests.support.events import deliver, process

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(make_endpoint, people):
    """ "High value" (> 5000) holds 6000, 9000 and 25000; "Very high" (> 20000) would hold the
    last too. 4500 is clear."""
    for user in people.values():
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    endpoint = make_endpoint("procureiq")
    high = block_create(name="High value", condition="order_value > 5000", priority=10)
    block_create(name="Very high", condition="order_value > 20000", priority=20)
    for order_id, amount in [("ord_6k", 6000), ("ord_9k", 9000), ("ord_25k", 25000),
                             ("ord_4k", 4500)]:  # fmt: skip
        process(deliver(*endpoint, order_created(order_id, amount)))
    return high


def client_for(people, name: str) -> Client:
    client = Client()
    client.force_login(people[name])
    return client


def hold_of(order_id: str) -> HeldOrder:
    return HeldOrder.objects.get(order__order_id=order_id)


def edit(block: Block, **changes) -> dict:
    """The change form's fields as a browser posts them."""
    values = {**block.snapshot(), **changes}
    return {
        "name": values["name"],
        "condition": values["condition"],
        "action": values["action"],
        "metadata": "{}",
        "status": values["status"],
        "priority": values["priority"],
        "event_types": "[]",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }


def test_it_previews_an_unsaved_edit_in_the_change_form(queue, people):
    oscar = client_for(people, "oscar")
    page = oscar.get(reverse("admin:rules_block_change", args=[queue.pk]))
    assert b'id="recheck-preview"' in page.content
    url = reverse("admin:rules_block_recheck_preview", args=[queue.pk])
    response = oscar.post(url, {"condition": "order_value > 4000", "status": "disabled"})
    assert response.status_code == 200
    text = response.content.decode()
    assert 'id="recheck-lost-count">2<' in text
    assert 'id="recheck-other-count">1<' in text
    assert 'id="recheck-new-count">0<' in text  # disabled: it holds nothing new
    preview = oscar.post(url, {"condition": "order_value > 4000", "status": "active"})
    assert 'id="recheck-new-count">1<' in preview.content.decode()
    assert "ord_4k" in preview.content.decode()
    assert Block.objects.get(pk=queue.pk).version == 1


def test_it_shows_why_an_unsaved_condition_cannot_be_rechecked(queue, people):
    url = reverse("admin:rules_block_recheck_preview", args=[queue.pk])
    response = client_for(people, "oscar").post(url, {"condition": "order_value >"})
    assert response.status_code == 400
    assert "at column 14" in response.content.decode()


def test_it_shows_the_holds_a_disabled_block_no_longer_holds_after_saving(queue, people):
    oscar = client_for(people, "oscar")
    change = reverse("admin:rules_block_change", args=[queue.pk])
    response = oscar.post(change, edit(queue, status="disabled"))
    assert response.status_code == 302, response.content
    assert response["Location"] == reverse("admin:rules_block_recheck", args=[queue.pk])
    page = oscar.get(response["Location"]).content.decode()
    assert 'id="recheck-lost-count">2<' in page
    assert "ord_6k" in page and "ord_9k" in page
    assert 'id="recheck-release-who"' in page  # operations see them; reviewers release
    assert 'id="open-holds-owned"' in oscar.get(change).content.decode()


def test_it_leads_from_the_disable_action_to_the_recheck(queue, people):
    response = client_for(people, "oscar").post(
        reverse("admin:rules_block_changelist"),
        {"action": "make_disabled", "_selected_action": [queue.pk]},
    )
    assert response["Location"] == reverse("admin:rules_block_recheck", args=[queue.pk])
    assert Block.objects.get(pk=queue.pk).status == "disabled"


def test_it_releases_the_holds_nothing_holds_with_one_reason_audited_per_hold(queue, people):
    block_update(block=queue, status="disabled")
    alice = client_for(people, "alice")
    page = alice.get(reverse("admin:rules_block_recheck", args=[queue.pk])).content.decode()
    assert 'id="recheck-release-all"' in page
    lost = sorted([hold_of("ord_6k").pk, hold_of("ord_9k").pk])
    response = alice.post(
        reverse("admin:rules_block_recheck_release", args=[queue.pk]),
        {"hold": [*lost, hold_of("ord_25k").pk], "reason": "rule retired"},
    )
    assert response.status_code == 302
    released = HeldOrder.objects.filter(status="released").order_by("pk")
    assert [h.pk for h in released] == lost
    assert {h.decision_reason for h in released} == {"rule retired"}
    assert hold_of("ord_25k").status == "held"  # another block still holds it
    entries = AuditEntry.objects.filter(action="hold.released").order_by("object_id")
    assert [(e.object_id, e.reason, e.actor_label) for e in entries] == [
        (pk, "rule retired", "alice") for pk in lost
    ]


def test_it_applies_four_eyes_to_a_release_from_the_recheck(queue, people):
    review_policy_set(four_eyes_amount=Decimal("8000"))
    block_update(block=queue, status="disabled")
    alice = client_for(people, "alice")
    page = alice.get(reverse("admin:rules_block_recheck", args=[queue.pk])).content.decode()
    assert 'id="recheck-four-eyes"' in page
    url = reverse("admin:rules_block_recheck_release", args=[queue.pk])
    holds = [hold_of("ord_6k").pk, hold_of("ord_9k").pk]
    alice.post(url, {"hold": holds, "reason": "rule retired"})
    assert hold_of("ord_6k").status == "released"
    assert hold_of("ord_9k").status == "held"
    assert ReleaseRequest.objects.get().hold_id == hold_of("ord_9k").pk


def test_it_leaves_held_what_something_holds_again_meanwhile(queue, people):
    block_update(block=queue, status="disabled")
    alice = client_for(people, "alice")
    block_update(block=Block.objects.get(pk=queue.pk), status="active")
    url = reverse("admin:rules_block_recheck_release", args=[queue.pk])
    response = alice.post(url, {"hold": [hold_of("ord_6k").pk], "reason": "rule retired"})
    assert response.status_code == 302
    assert hold_of("ord_6k").status == "held"


def test_it_wants_a_reason(queue, people):
    block_update(block=queue, status="disabled")
    url = reverse("admin:rules_block_recheck_release", args=[queue.pk])
    client_for(people, "alice").post(url, {"hold": [hold_of("ord_6k").pk], "reason": " "})
    assert hold_of("ord_6k").status == "held"


@pytest.mark.parametrize(
    ("role", "page", "preview", "release"),
    [
        ("alice", 200, 403, 302),
        ("oscar", 200, 200, 403),
        ("audrey", 200, 403, 403),
        ("mallory", 403, 403, 403),
    ],
)
def test_it_lets_each_role_do_its_part(queue, people, role, page, preview, release):
    block_update(block=queue, status="disabled")
    client = client_for(people, role)
    pk = queue.pk
    assert client.get(reverse("admin:rules_block_recheck", args=[pk])).status_code == page
    url = reverse("admin:rules_block_recheck_preview", args=[pk])
    assert client.post(url, {"status": "active"}).status_code == preview
    url = reverse("admin:rules_block_recheck_release", args=[pk])
    response = client.post(url, {"hold": [hold_of("ord_6k").pk], "reason": "x"})
    assert response.status_code == release
    assert hold_of("ord_6k").status == ("released" if release == 302 else "held")
