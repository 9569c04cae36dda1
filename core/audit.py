"""Writing to the audit trail. Every service that changes something an auditor cares about
calls audit_record() inside its own transaction: the entry exists exactly when the change does.

Each entry is hash-chained to the one before it (core.audit_chain): its content hash is taken
here, and it is linked into the chain when its transaction commits."""

from typing import Any

from core import audit_chain, plain_sql
from core.models import AuditEntry


def actor_label(actor) -> str:
    return getattr(actor, "get_username", lambda: "system")() if actor else "system"


def audit_record(
    *,
    action: str,
    obj_type: str,
    obj_id: str,
    actor=None,
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    order_id: str = "",
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label(actor),
        action=action,
        object_type=obj_type,
        object_id=str(obj_id),
        order_id=order_id or "",
        reason=reason,
        before=before,
        after=after,
    )
    audit_chain.seal(entry)
    plain_sql.insert(entry)  # insert-only, and written for every hold processing makes
    audit_chain.entries_link(AuditEntry)
    return entry


def audit_chain_verify(*, since: str | None = None) -> audit_chain.Verification:
    """Walk the audit trail's chain, from the checkpoint `since` (an entry id or hash)."""
    return audit_chain.chain_verify(AuditEntry, since=since)


def audit_chain_verify_task() -> str:
    """django-q2 schedule entry point (core.task_names.VERIFY_AUDIT_CHAIN): the daily walk,
    which logs the head hash and announces a break."""
    return audit_chain.chain_verify_and_report(AuditEntry).summary()
