"""GET /api/v2/audit/: filters, pages, the CSV export, and who may read it."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from core import task_names
from core.audit import actor_label
from core.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(people):
    """Four entries, one a day, oldest first, written as core.audit writes them but at chosen
    times (audit_record always writes now)."""
    now = timezone.now()
    made = []
    for n, (action, actor) in enumerate(
        [("hold.released", people["alice"]), ("hold.rejected", people["alice"]),
         ("block.changed", people["oscar"]), ("endpoint.changed", None)]
    ):  # fmt: skip
        at = now - timedelta(days=3 - n)
        entry = AuditEntry(at=at, actor=actor, actor_label=actor_label(actor),
                           action=action, object_type="hold", object_id=f"hold_{n}",
                           reason="=HYPERLINK(\"x\")" if n == 0 else f"reason {n}",
                           after={"n": n, "note": "café"})  # fmt: skip
        entry.save()
        made.append(entry)
    return made


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["object_id"] for row in response.json()["results"]]


def test_it_lists_entries_newest_first_with_their_chain_fields(api, entries):
    response = api("audrey").get("/api/v2/audit/")
    assert _ids(response) == ["hold_3", "hold_2", "hold_1", "hold_0"]
    row = response.json()["results"][-1]
    assert row["actor"] == "alice" and row["action"] == "hold.released"
    assert row["content_hash"] == entries[0].content_hash
    assert {"seq", "prev_hash", "hash", "before", "after"} <= set(row)


def test_it_filters_by_action_actor_and_time(api, entries):
    client = api("oscar")
    assert _ids(client.get("/api/v2/audit/?action=hold.rejected")) == ["hold_1"]
    assert _ids(client.get("/api/v2/audit/?actor=alice")) == ["hold_1", "hold_0"]
    assert _ids(client.get("/api/v2/audit/?actor=system")) == ["hold_3"]
    since = (timezone.now() - timedelta(days=2, hours=1)).isoformat()
    until = (timezone.now() - timedelta(hours=12)).isoformat()
    response = client.get("/api/v2/audit/", {"since": since, "until": until})
    assert _ids(response) == ["hold_2", "hold_1"]


def test_it_pages_with_a_cursor(api, entries):
    client = api("audrey")
    first = client.get("/api/v2/audit/?page_size=3").json()
    assert [row["object_id"] for row in first["results"]] == ["hold_3", "hold_2", "hold_1"]
    second = client.get(first["next"]).json()
    assert [row["object_id"] for row in second["results"]] == ["hold_0"]
    assert second["next"] is None


@pytest.mark.parametrize(
    "query,field",
    [("since=yesterday", "since"), ("until=2026-13-01", "until"), ("action=hold.eaten", "action")],
)
def test_it_refuses_a_bad_filter_with_400(api, entries, query, field):
    response = api("audrey").get(f"/api/v2/audit/?{query}")
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_it_exports_every_matching_entry_as_csv(api, entries):
    response = api("audrey").get("/api/v2/audit/?format=csv&actor=alice&page_size=1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["object_id"] for row in rows] == ["hold_0", "hold_1"]  # all, oldest first
    assert rows[0]["reason"] == '\'=HYPERLINK("x")'  # not a formula in a spreadsheet
    assert json.loads(rows[1]["after"]) == {"n": 1, "note": "café"}
    assert rows[1]["content_hash"] == entries[1].content_hash
    assert list(rows[0]) == ["id", "seq", "at", "actor", "action", "object_type", "object_id",
                             "order_id", "reason", "before", "after", "content_hash",
                             "prev_hash", "hash"]  # fmt: skip


@pytest.mark.parametrize(
    "role,status", [("audrey", 200), ("oscar", 200), ("alice", 403), ("mallory", 403), (None, 401)]
)
def test_only_auditors_and_operations_read_it(api, entries, role, status):
    assert api(role).get("/api/v2/audit/").status_code == status
    assert api(role).get("/api/v2/audit/?format=csv").status_code == status


def test_the_daily_verification_is_scheduled():
    schedule = Schedule.objects.get(func=task_names.VERIFY_AUDIT_CHAIN)
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 24 * 60, -1)
