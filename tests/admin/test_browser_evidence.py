"""The evidence download from the hold page, in a real browser, at desktop and phone widths."""

import json

import pytest

from rules.evidence import evidence_verify
from rules.services import hold_release

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1400, 390])
def test_a_reviewer_downloads_the_evidence_of_a_decided_hold(console, hold_for, staff, width):
    hold = hold_for("ord_evidence_1", 9100, customer="cus_evidence")
    hold_release(hold=hold, actor=staff["alice"], reason="verified with the customer")
    page = console.login("alice", width=width)
    page.goto(f"{console.url}/admin/rules/heldorder/{hold.pk}/change/")
    button = page.locator("#download-evidence")
    assert button.is_visible()
    with page.expect_download() as download_info:
        button.click()
    download = download_info.value
    assert download.suggested_filename == f"evidence-{hold.pk}.json"
    document = json.loads(download.path().read_bytes())
    assert document["hold"]["id"] == hold.pk and document["hold"]["status"] == "released"
    assert [event["signature"]["verified"] for event in document["events"]] == [True]
    assert [entry["action"] for entry in document["audit_entries"]] == [
        "hold.created",
        "hold.released",
    ]
    # Committed, so every entry is linked into the chain.
    assert all(entry["seq"] for entry in document["audit_entries"])
    assert evidence_verify(document) == []


def test_an_account_without_a_role_gets_no_evidence(console, hold_for):
    hold = hold_for("ord_evidence_2", 9100)
    page = console.login("mallory")
    response = page.goto(f"{console.url}/admin/rules/heldorder/{hold.pk}/evidence/")
    assert response.status == 403
