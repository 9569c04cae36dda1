"""The audit trail's hash chain: what an entry's hash covers, how entries are linked, and the
walk that checks them (docs/security.md).

Each entry carries `content_hash`, the SHA-256 of its canonical content (content_canonical), and
is linked to the entry before it: `seq` is its place in the one chain, `prev_hash` the previous
entry's `hash`, and `hash` = SHA-256 of "<seq>:<prev_hash>:<content_hash>".

The content hash is computed in Python when the entry is written. On PostgreSQL the link is
made by the database, in the writing transaction, at its commit: a deferred constraint trigger
(installed by core/migrations/0005_audit_chain.py) takes a transaction-level advisory lock, reads
the head and links the entry. The lock is held only from that moment to the end of the commit,
so writers of unrelated work are serialised only for their commits, not for their whole
transactions. Any INSERT, however written, is linked this way; a row without a valid content
hash is refused by a check constraint. On other databases (SQLite, for development) entries are
linked right after their insert by entries_link(), SQLite serialising writers itself."""

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

from django.db import connection
from django.dispatch import Signal

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
# pg_advisory_xact_lock key of the chain's head ("hookaudi"); used by the trigger only.
ADVISORY_LOCK_KEY = 0x686F6F6B61756469
TRIGGER_NAME = "audit_chain_link"
CONTENT_FIELDS = (
    "at",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "order_id",
    "reason",
    "before",
    "after",
)

# Sent with verification=<Verification> when a scheduled walk of the chain finds it broken; the
# console raises an alert (a lower layer never names the console).
audit_chain_broken = Signal()


# --- Canonical content --------------------------------------------------------------------


def _number(value: int | float) -> str:
    """A JSON number in one spelling whatever the database made of it: PostgreSQL's jsonb keeps
    a number's decimal value, not its spelling (1e+20 comes back as 100000000000000000000)."""
    exact = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if exact == 0:
        return "0"
    digits = max(28, len(exact.as_tuple().digits))
    return str(exact.normalize(Context(prec=digits)))


def _canonical_json(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_canonical_json(item) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items())
        return (
            "{"
            + ",".join(
                f"{json.dumps(k, ensure_ascii=False)}:{_canonical_json(v)}" for k, v in items
            )
            + "}"
        )
    raise TypeError(f"not JSON: {type(value).__name__}")


def moment_canonical(at: datetime | str) -> str:
    """A time as the chain spells it: UTC, to the microsecond (what PostgreSQL keeps)."""
    if isinstance(at, str):
        return at
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an entry's content hash covers, from a model instance's attributes or a row,
    as JSON values (the time spelt by moment_canonical). The actor's user id is left out: it is
    cleared when the user is deleted, while `actor_label` keeps the name."""
    content = {name: values[name] for name in CONTENT_FIELDS}
    content["at"] = moment_canonical(content["at"])
    for name in ("before", "after"):
        # What a JSON column gives back: tuples as lists, keys as strings.
        content[name] = json.loads(json.dumps(content[name]))
    return content


def content_canonical(values: Mapping[str, Any]) -> str:
    return _canonical_json(content_of(values))


def content_hash(values: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an entry's canonical content."""
    return hashlib.sha256(content_canonical(values).encode()).hexdigest()


def link_hash(seq: int, prev_hash: str, content: str) -> str:
    """An entry's chain hash; the trigger computes the same in SQL."""
    return hashlib.sha256(f"{seq}:{prev_hash}:{content}".encode()).hexdigest()


def instance_values(entry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in CONTENT_FIELDS}


def seal(entry) -> None:
    """Give an entry about to be inserted its content hash."""
    entry.content_hash = content_hash(instance_values(entry))


# --- Linking outside PostgreSQL -------------------------------------------------------------


def entries_link(model) -> None:
    """Link every entry not yet in the chain, in insertion order. For databases without the
    trigger; on PostgreSQL the trigger links each entry at its transaction's commit."""
    if connection.vendor == "postgresql":
        return
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT seq, hash FROM {table} WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"  # noqa: S608
        )
        head = cursor.fetchone() or (0, GENESIS)
        cursor.execute(f"SELECT id, content_hash FROM {table} WHERE seq IS NULL ORDER BY id")  # noqa: S608
        seq, prev = head
        for pk, content in cursor.fetchall():
            seq += 1
            digest = link_hash(seq, prev, content)
            cursor.execute(
                f"UPDATE {table} SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",  # noqa: S608
                [seq, prev, digest, pk],
            )
            prev = digest


def trigger_sql(table: str) -> tuple[str, str]:
    """(install, remove) SQL of the PostgreSQL trigger that links entries at commit."""
    # The table name comes from the model's _meta, quoted; nothing here is user input.
    install = f"""
CREATE OR REPLACE FUNCTION hookdesk_audit_chain_link() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    head_seq bigint;
    head_hash varchar(64);
BEGIN
    -- One chain: writers take turns from here to the end of their commit. Each statement
    -- below sees what the previous holder committed (READ COMMITTED takes a new snapshot).
    PERFORM pg_advisory_xact_lock({ADVISORY_LOCK_KEY});
    SELECT seq, hash INTO head_seq, head_hash FROM {table}
        WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1;
    IF head_seq IS NULL THEN
        head_seq := 0;
        head_hash := '{GENESIS}';
    END IF;
    UPDATE {table} SET seq = head_seq + 1, prev_hash = head_hash,
        hash = encode(sha256(convert_to(
            (head_seq + 1)::text || ':' || head_hash || ':' || NEW.content_hash, 'UTF8')), 'hex')
        WHERE id = NEW.id;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS {TRIGGER_NAME} ON {table};
CREATE CONSTRAINT TRIGGER {TRIGGER_NAME} AFTER INSERT ON {table}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hookdesk_audit_chain_link();
"""  # noqa: S608
    remove = f"""
DROP TRIGGER IF EXISTS {TRIGGER_NAME} ON {table};
DROP FUNCTION IF EXISTS hookdesk_audit_chain_link();
"""
    return install, remove


# --- Verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """The outcome of a walk: how many entries were checked, the head reached, and the first
    broken entry (its id and seq, and what is wrong), if any."""

    checked: int
    head_seq: int | None
    head_hash: str | None
    broken_id: int | None = None
    broken_seq: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem

    def summary(self) -> str:
        if self.ok:
            return f"ok {self.checked} entries"
        where = f"entry {self.broken_id}" if self.broken_id is not None else "the audit trail"
        seq = f" (#{self.broken_seq})" if self.broken_seq is not None else ""
        return f"broken at {where}{seq}: {self.problem}"


ROW_FIELDS = ("id", "seq", "prev_hash", "hash", "content_hash", *CONTENT_FIELDS)


def entry_problem(row: Mapping[str, Any], prev_seq: int, prev_hash: str) -> str:
    """What is wrong with an entry that should follow (prev_seq, prev_hash), or ""."""
    if row["seq"] != prev_seq + 1:
        missing = row["seq"] - prev_seq - 1
        return f"{missing} entr{'y' if missing == 1 else 'ies'} before it are missing"
    if row["prev_hash"] != prev_hash:
        return "it does not link to the entry before it (an entry was removed or inserted)"
    if content_hash(row) != row["content_hash"]:
        return "its content was changed after it was written"
    if link_hash(row["seq"], row["prev_hash"], row["content_hash"]) != row["hash"]:
        return "its chain hash does not match its place and content"
    return ""


def rows_verify(
    rows: Iterable[Mapping[str, Any]], *, prev_seq: int, prev_hash: str
) -> Verification:
    """Walk rows in chain order from after (prev_seq, prev_hash)."""
    checked, head_seq, head_hash = 0, prev_seq or None, prev_hash if prev_seq else None
    for row in rows:
        problem = entry_problem(row, prev_seq, prev_hash)
        if problem:
            return Verification(checked, head_seq, head_hash, row["id"], row["seq"], problem)
        checked += 1
        prev_seq, prev_hash = row["seq"], row["hash"]
        head_seq, head_hash = prev_seq, prev_hash
    return Verification(checked, head_seq, head_hash)


def checkpoint_parse(value: str) -> dict[str, Any]:
    """A checkpoint as a lookup: an entry id (digits) or an entry's chain hash (64 hex)."""
    value = value.strip().lower().removeprefix("sha256:")
    if value.isdigit():
        return {"pk": int(value)}
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return {"hash": value}
    raise ValueError("a checkpoint is an entry id or an entry's 64-hex chain hash")


def chain_verify(model, *, since: str | None = None, chunk: int = 5000) -> Verification:
    """Walk the chain (from the checkpoint `since`, an entry id or hash, inclusive) and report
    the first broken entry. Entries outside the chain (no seq: written past the trigger) are a
    break too."""
    entries = model.objects.filter(seq__isnull=False).order_by("seq")
    prev_seq, prev_hash = 0, GENESIS
    if since:
        start = model.objects.filter(seq__isnull=False, **checkpoint_parse(since)).first()
        if start is None:
            return Verification(0, None, None, problem=f"checkpoint {since} is not in the chain")
        entries = entries.filter(seq__gte=start.seq)
        prev_seq, prev_hash = start.seq - 1, start.prev_hash
    outside = model.objects.filter(seq__isnull=True).order_by("id").values_list("id", flat=True)
    rows = entries.values(*ROW_FIELDS).iterator(chunk_size=chunk)
    result = rows_verify(rows, prev_seq=prev_seq, prev_hash=prev_hash)
    if result.ok and (stray := outside.first()) is not None:
        return Verification(
            result.checked,
            result.head_seq,
            result.head_hash,
            stray,
            None,
            "it is outside the chain (inserted without being linked)",
        )
    return result


def chain_verify_and_report(model) -> Verification:
    """The daily check: walk the whole chain, log the head (to be kept outside the database,
    docs/security.md) and announce a break to whoever listens."""
    result = chain_verify(model)
    if result.ok:
        logger.info(
            "audit chain ok: %d entries, head #%s %s", result.checked, result.head_seq,
            result.head_hash,
        )  # fmt: skip
    else:
        logger.error("audit chain %s; last good head #%s %s", result.summary(),
                     result.head_seq, result.head_hash)  # fmt: skip
        audit_chain_broken.send_robust(sender=model, verification=result)
    return result
