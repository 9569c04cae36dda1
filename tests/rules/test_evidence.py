"""A hold's evidence package: bodies byte-exact, signatures checked again at export time (also
with a secret rotated out since), the sections, and verify_evidence refusing a changed file."""

import base64
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from core import crypto
from integrations.services import destination_create
from rules.evidence import _SECTIONS, evidence_digest, evidence_verify, hold_evidence
from rules.models import HeldOrder
from tests.signing import as_meta, autranex_headers
from webhooks.models import Event
from webhooks.processing import event_process
from webhooks.services import secret_rotate

pytestmark = pytest.mark.django_db
# Odd spacing, key order and non-ASCII: what was signed is these bytes, not re-serialised JSON.
HELD = (
    b'{ "event_type":"order.held",  "event_id":"evt_ev_1",\n "data":{"order_id":"ord_ev",'
    b'"order_value":7800.50,"currency":"EUR","customer_id":"cus_\xc3\xa9","block_id":"blk_up"}}'
)
UPDATED = (
    b'{"event_id":"evt_ev_2","event_type":"order.created","data":{"order_id":"ord_ev",'
    b'"order_value":7800.5}}'
)


@pytest.fixture(autouse=True)
def chain_at_once():
    # Entries are linked at commit; a test's transaction never commits, so link them as they
    # are written.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS audit_chain_link IMMEDIATE")


def _deliver(endpoint, secret: str, body: bytes) -> Event:
    response = Client().post(endpoint.receiver_path, data=body, content_type="application/json",
                             **as_meta(autranex_headers(body, secret)))  # fmt: skip
    assert response.status_code == 200, response.content
    return Event.objects.get(pk=response.json()["event"])


@pytest.fixture
def held(make_endpoint):
    endpoint, secret = make_endpoint("autranex", slug="evidence-autranex")
    destination_create(name="ERP", url="http://127.0.0.1:9/hooks", event_types=["order.held"])
    event = _deliver(endpoint, secret, HELD)
    event_process(event_id=event.pk, trigger="queue")
    hold = HeldOrder.objects.get(event=event)
    hold.endpoint, hold.secret = endpoint, secret
    return hold


def _events(document) -> dict[str, dict]:
    return {event["provider_event_id"]: event for event in document["events"]}


def test_it_carries_the_bodies_byte_exact_with_their_headers(held):
    document = hold_evidence(hold=held)
    event = _events(document)["evt_ev_1"]
    assert base64.b64decode(event["body_base64"]) == HELD
    assert event["triggered_hold"] is True
    assert event["headers"]["x-autranex-signature"].startswith("t=")
    assert event["body_sha256"] == event["body_sha256_at_receipt"]


def test_it_checks_each_signature_again_with_the_secret_that_verified_it(held):
    secret = held.endpoint.secrets.get()
    event = _events(hold_evidence(hold=held))["evt_ev_1"]
    assert event["signature"] == {"scheme": "autranex", "verified": True,
                                  "secret_fingerprint": secret.fingerprint}  # fmt: skip


def test_a_secret_rotated_out_since_still_verifies_its_deliveries(held):
    old = held.endpoint.secrets.get()
    new, new_secret = secret_rotate(endpoint=held.endpoint, grace=timedelta(0))
    later = _deliver(held.endpoint, new_secret, UPDATED)
    old.refresh_from_db()
    assert not old.is_live()  # expired: it would refuse a delivery now
    events = _events(hold_evidence(hold=held))
    assert events["evt_ev_1"]["signature"]["verified"] is True
    assert events["evt_ev_1"]["signature"]["secret_fingerprint"] == old.fingerprint
    assert events["evt_ev_2"]["signature"]["secret_fingerprint"] == new.fingerprint
    assert events["evt_ev_2"]["triggered_hold"] is False
    assert later.verified_by_id == new.pk


def test_a_stored_body_changed_after_receipt_no_longer_verifies(held):
    Event.objects.filter(pk=held.event_id).update(body=HELD.replace(b"7800.50", b"78.50"))
    event = _events(hold_evidence(hold=held))["evt_ev_1"]
    assert event["signature"]["verified"] is False
    assert event["body_sha256"] != event["body_sha256_at_receipt"]


def test_an_event_stored_without_its_verifying_secret_is_checked_against_every_secret(held):
    _, _ = secret_rotate(endpoint=held.endpoint, grace=timedelta(0))
    Event.objects.filter(pk=held.event_id).update(verified_by=None)
    signature = _events(hold_evidence(hold=held))["evt_ev_1"]["signature"]
    assert signature["verified"] is True
    assert signature["secret_fingerprint"] == crypto.fingerprint(held.secret)


def test_it_holds_the_hold_order_block_decisions_audit_and_deliveries(held, people):
    from rules.services import hold_release

    hold_release(hold=held, actor=people["alice"], reason="customer called, verified")
    document = hold_evidence(hold=held, actor=people["audrey"])
    assert document["hold"]["id"] == held.pk and document["hold"]["status"] == "released"
    assert document["order"]["order_id"] == "ord_ev"
    assert document["block"] == {"source": "upstream", "block_id": "blk_up", "version": None,
                                 "condition": None}  # fmt: skip
    assert document["signals"] == held.signals
    review = document["decisions"][-1]
    assert (review["kind"], review["by"], review["reason"]) == (
        "review", "alice", "customer called, verified")  # fmt: skip
    actions = [entry["action"] for entry in document["audit_entries"]]
    assert actions == ["hold.created", "hold.released"]
    assert all(entry["seq"] and entry["hash"] for entry in document["audit_entries"])
    [delivery] = document["outbound_deliveries"]
    assert delivery["event_type"] == "order.held" and delivery["destination"]["name"] == "ERP"
    assert document["comments"] == []
    assert document["generated_by"] == "audrey"
    assert document["digest"] == evidence_digest(document)
    assert evidence_verify(document) == []


def test_it_shows_the_block_version_and_condition_that_held(make_endpoint):
    from rules.services import block_create, block_update
    from tests.support.events import deliver, procureiq

    block = block_create(name="High value", condition="order_value > 5000")
    endpoint = make_endpoint("procureiq")
    event = deliver(*endpoint, procureiq("order.created", {"orderId": "ord_blk",
                                                           "totalAmount": 9000}))  # fmt: skip
    event_process(event_id=event.pk, trigger="queue")
    block_update(block=block, condition="order_value > 8000")  # later edits do not rewrite it
    document = hold_evidence(hold=HeldOrder.objects.get(event=event))
    assert (document["block"]["block_id"], document["block"]["version"]) == (block.block_id, 1)
    assert document["block"]["condition"] == "order_value > 5000"
    [decision] = [d for d in document["decisions"] if d["kind"] == "block"]
    assert (decision["block_id"], decision["action"]) == (block.block_id, "hold")


def test_a_registered_section_joins_every_package(held, monkeypatch):
    monkeypatch.setitem(_SECTIONS, "comments", lambda hold: [{"body": f"seen {hold.pk}"}])
    document = hold_evidence(hold=held)
    assert document["comments"] == [{"body": f"seen {held.pk}"}]
    assert evidence_verify(document) == []


# --- The API and verify_evidence -----------------------------------------------------------


def _saved(api, hold, tmp_path, role="alice"):
    response = api(role).get(f"/api/v2/holds/{hold.pk}/evidence/")
    assert response.status_code == 200, response.content
    path = tmp_path / "evidence.json"
    path.write_bytes(response.content)
    return path, json.loads(response.content)


def _verify(path) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_evidence", str(path), stdout=out, stderr=err)
    except SystemExit as stop:
        return stop.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_verify_evidence_accepts_a_package_as_downloaded_and_says_what_it_cannot_check(
    api, held, tmp_path
):
    path, document = _saved(api, held, tmp_path)
    code, out, err = _verify(path)
    assert code == 0, out
    assert out.startswith(f"ok {document['digest']}: hold {held.pk}")
    assert "Signatures were not checked again" in err


def test_verify_evidence_refuses_a_changed_package(api, held, tmp_path):
    path, document = _saved(api, held, tmp_path)
    document["events"][0]["body_base64"] = base64.b64encode(HELD.replace(b"EUR", b"USD")).decode()
    path.write_text(json.dumps(document))
    code, out, _ = _verify(path)
    assert code == 1
    assert "the digest does not match" in out
    assert "does not match its SHA-256" in out


def test_verify_evidence_finds_an_audit_entry_changed_even_with_a_new_digest(api, held, tmp_path):
    path, document = _saved(api, held, tmp_path)
    document["audit_entries"][0]["reason"] = "nothing unusual"
    document["digest"] = evidence_digest(document)
    path.write_text(json.dumps(document))
    code, out, _ = _verify(path)
    assert code == 1
    assert "audit_entries[0]" in out and "does not match its hash" in out


def test_verify_evidence_refuses_what_is_not_a_package(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"digest": "sha256:00"}')
    code, out, _ = _verify(path)
    assert code == 1 and "missing sections" in out


@pytest.mark.parametrize(
    "role,status", [("alice", 200), ("oscar", 200), ("audrey", 200), ("mallory", 403), (None, 401)]
)
def test_reviewers_operations_and_auditors_may_download_it(api, held, role, status):
    assert api(role).get(f"/api/v2/holds/{held.pk}/evidence/").status_code == status


def test_the_admin_serves_it_as_a_file(held, people):
    people["alice"].is_staff = True
    people["alice"].save()
    client = Client()
    client.force_login(people["alice"])
    page = client.get(f"/admin/rules/heldorder/{held.pk}/change/")
    assert b'id="download-evidence"' in page.content
    response = client.get(f"/admin/rules/heldorder/{held.pk}/evidence/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="evidence-{held.pk}.json"'
    assert evidence_verify(json.loads(response.content)) == []
    people["mallory"].is_staff = True
    people["mallory"].save()
    client.force_login(people["mallory"])
    assert client.get(f"/admin/rules/heldorder/{held.pk}/evidence/").status_code == 403
