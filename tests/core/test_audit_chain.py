# ruff: noqa: S608  (tampering with the table directly is the point of these tests)
"""The audit trail's hash chain: one chain under concurrent writers, and verify_audit finding an
edited, a removed and an inserted entry (core.audit_chain)."""

import threading
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from core import audit_chain
from core.audit import audit_record
from core.models import AuditEntry, ImmutableRecord
from tests.postgres import requires_postgres

pytestmark = [pytest.mark.django_db(transaction=True), requires_postgres()]
TABLE = AuditEntry._meta.db_table
WRITERS, EACH = 8, 25


def _record(n: int, **extra) -> AuditEntry:
    return audit_record(
        action="endpoint.changed", obj_type="endpoint", obj_id=f"ep-{n}", reason=f"change {n}",
        before={"n": n, "ratio": n / 7, "big": 1e20}, after={"n": n + 1, "tags": ["a", "é"]},
        **extra,
    )  # fmt: skip


def _entries(count: int) -> list[AuditEntry]:
    for n in range(count):
        with transaction.atomic():
            _record(n)
    return list(AuditEntry.objects.order_by("seq"))


def _verify(*args) -> tuple[int, str]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=StringIO())
    except SystemExit as stop:
        return stop.code, out.getvalue().strip()
    return 0, out.getvalue().strip()


def _sql(sql: str, params=None, *, bypass_triggers: bool = False) -> None:
    # What someone with direct database access could do; the test database user is a superuser.
    with connection.cursor() as cursor:
        if bypass_triggers:
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params or [])
        if bypass_triggers:
            cursor.execute("SET session_replication_role = DEFAULT")


def test_it_links_every_entry_to_the_one_before():
    entries = _entries(3)
    assert [entry.seq for entry in entries] == [1, 2, 3]
    assert entries[0].prev_hash == audit_chain.GENESIS
    for before, entry in pairwise(entries):
        assert entry.prev_hash == before.hash
    for entry in entries:
        values = audit_chain.instance_values(entry)
        assert entry.content_hash == audit_chain.content_hash(values)
        assert entry.hash == audit_chain.link_hash(entry.seq, entry.prev_hash, entry.content_hash)
    assert _verify() == (0, "ok 3 entries")


def test_it_keeps_one_chain_under_eight_concurrent_writers():
    _entries(1)
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(EACH):
                try:
                    with transaction.atomic():
                        _record(writer * 1000 + n)
                        if n % 5 == 4:
                            # Unrelated work after the entry, then a rollback: the entry never
                            # joins the chain and leaves no gap in it.
                            AuditEntry.objects.filter(pk=-1).exists()
                            raise _Rollback
                except _Rollback:
                    pass
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    kept = 1 + WRITERS * EACH - WRITERS * (EACH // 5)
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, kept + 1))  # no gap, no entry outside the chain
    prev = list(AuditEntry.objects.values_list("prev_hash", flat=True))
    assert len(set(prev)) == len(prev)  # no fork: no two entries follow the same one
    assert AuditEntry.objects.filter(reason="change 4").count() == 0
    assert _verify() == (0, f"ok {kept} entries")


class _Rollback(Exception):
    pass


def test_it_finds_an_edited_entry():
    entries = _entries(4)
    _sql(f"UPDATE {TABLE} SET reason = 'nothing to see' WHERE id = %s", [entries[2].pk])
    code, out = _verify()
    assert code == 1
    assert out.startswith(f"broken at entry {entries[2].pk} (#3): its content was changed")


def test_it_finds_an_edited_json_value():
    entries = _entries(3)
    _sql(f"""UPDATE {TABLE} SET "after" = '{{"n": 99}}' WHERE id = %s""", [entries[1].pk])
    assert _verify()[1].startswith(f"broken at entry {entries[1].pk} (#2)")


def test_it_finds_a_removed_entry():
    entries = _entries(4)
    _sql(f"DELETE FROM {TABLE} WHERE id = %s", [entries[1].pk])
    code, out = _verify()
    assert code == 1
    assert out == f"broken at entry {entries[2].pk} (#3): 1 entry before it are missing"


def test_it_finds_the_removal_of_the_newest_entry_against_its_checkpoint():
    entries = _entries(3)
    _sql(f"DELETE FROM {TABLE} WHERE id = %s", [entries[2].pk])
    code, out = _verify("--since", entries[2].hash)
    assert code == 1
    assert "is not in the chain" in out


def test_it_finds_an_entry_inserted_into_the_chain():
    entries = _entries(4)
    # A forged entry made to look right where it stands: the entries after it moved up one
    # place, but their hashes still name the places and predecessors they had.
    _sql(f"UPDATE {TABLE} SET seq = -seq WHERE seq > 2")
    _sql(f"UPDATE {TABLE} SET seq = -seq + 1 WHERE seq < 0")
    forged = {"at": entries[1].at, "actor_label": "system", "action": "endpoint.changed",
              "object_type": "endpoint", "object_id": "ep-x", "order_id": "", "reason": "forged",
              "before": None, "after": None}  # fmt: skip
    content = audit_chain.content_hash(forged)
    digest = audit_chain.link_hash(3, entries[1].hash, content)
    _sql(
        f"""INSERT INTO {TABLE} (at, actor_label, action, object_type, object_id, order_id,
            reason, seq, content_hash, prev_hash, hash)
            VALUES (%s, 'system', 'endpoint.changed', 'endpoint', 'ep-x', '', 'forged', 3, %s,
            %s, %s)""",
        [forged["at"], content, entries[1].hash, digest],
        bypass_triggers=True,
    )
    code, out = _verify()
    assert code == 1
    assert out.startswith(f"broken at entry {entries[2].pk} (#4): it does not link")


def test_it_finds_an_entry_inserted_past_the_trigger():
    _entries(2)
    forged = {"at": "2026-01-01T00:00:00.000000Z", "actor_label": "system",
              "action": "endpoint.changed", "object_type": "endpoint", "object_id": "ep-y",
              "order_id": "", "reason": "", "before": None, "after": None}  # fmt: skip
    _sql(
        f"""INSERT INTO {TABLE} (at, actor_label, action, object_type, object_id, order_id,
            reason, content_hash, prev_hash, hash)
            VALUES ('2026-01-01T00:00:00Z', 'system', 'endpoint.changed', 'endpoint', 'ep-y',
            '', '', %s, '', '')""",
        [audit_chain.content_hash(forged)],
        bypass_triggers=True,
    )
    stray = AuditEntry.objects.get(object_id="ep-y")
    code, out = _verify()
    assert code == 1
    assert (
        out
        == f"broken at entry {stray.pk}: it is outside the chain (inserted without being linked)"
    )


def test_it_verifies_from_a_checkpoint():
    entries = _entries(5)
    assert _verify("--since", str(entries[2].pk)) == (0, "ok 3 entries")
    assert _verify("--since", entries[3].hash) == (0, "ok 2 entries")
    # A break before the checkpoint is not the checkpoint's business.
    _sql(f"UPDATE {TABLE} SET reason = 'edited' WHERE id = %s", [entries[0].pk])
    assert _verify("--since", entries[3].hash)[0] == 0
    assert _verify()[0] == 1


def test_it_refuses_an_entry_without_its_content_hash():
    with pytest.raises(IntegrityError), transaction.atomic():
        _sql(
            f"""INSERT INTO {TABLE} (at, actor_label, action, object_type, object_id, order_id,
                reason, content_hash, prev_hash, hash)
                VALUES (now(), 'system', 'endpoint.changed', 'endpoint', 'z', '', '', '', '', '')"""
        )


def test_entries_written_by_the_orm_and_in_bulk_join_the_chain():
    _entries(1)
    AuditEntry(action="endpoint.changed", object_type="endpoint", object_id="orm",
               actor_label="system").save()  # fmt: skip
    AuditEntry.objects.bulk_create(
        [AuditEntry(action="endpoint.changed", object_type="endpoint", object_id=f"bulk-{n}",
                    actor_label="system") for n in range(3)]
    )  # fmt: skip
    assert _verify() == (0, "ok 5 entries")
    with pytest.raises(ImmutableRecord):
        AuditEntry.objects.filter(object_id="orm").update(reason="x")


def test_a_deleted_user_leaves_the_chain_intact(django_user_model):
    user = django_user_model.objects.create_user("leaver")
    with transaction.atomic():
        _record(1, actor=user)
    user.delete()  # the entry's actor is cleared; its label, which the hash covers, stays
    assert _verify() == (0, "ok 1 entries")


def test_the_daily_verification_logs_the_head_and_raises_no_alert_when_intact(caplog):
    from console.models import AUDIT_CHAIN_BROKEN, Alert
    from core.audit import audit_chain_verify_task

    entries = _entries(2)
    with caplog.at_level("INFO", logger="core.audit_chain"):
        assert audit_chain_verify_task() == "ok 2 entries"
    assert f"head #2 {entries[1].hash}" in caplog.text
    assert not Alert.objects.filter(operational_event=AUDIT_CHAIN_BROKEN).exists()


def test_the_daily_verification_raises_an_alert_on_a_break(caplog, settings):
    from django.contrib.auth.models import Group, User
    from django.core import mail

    from console.models import AUDIT_CHAIN_BROKEN, Alert
    from core.audit import audit_chain_verify_task

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ops = User.objects.create_user("oscar", email="oscar@example.test")
    ops.groups.add(Group.objects.get_or_create(name="Operations")[0])
    entries = _entries(3)
    _sql(f"UPDATE {TABLE} SET reason = 'rewritten' WHERE id = %s", [entries[1].pk])
    with caplog.at_level("INFO", logger="core.audit_chain"):
        summary = audit_chain_verify_task()
    assert summary.startswith(f"broken at entry {entries[1].pk} (#2)")
    alert = Alert.objects.get(operational_event=AUDIT_CHAIN_BROKEN)
    assert f"entry {entries[1].pk}" in alert.message
    assert f"#1 {entries[0].hash}" in alert.message  # the last good head, to compare
    assert [message.to for message in mail.outbox] == [["oscar@example.test"]]
    assert entries[0].hash in caplog.text
