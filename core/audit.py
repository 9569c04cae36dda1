"""Writing to the audit trail. Every service that changes something an auditor cares about
calls audit_record() inside its own transaction: the entry exists exactly when the change does."""

from typing import Any

from core import plain_sql
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
    plain_sql.insert(entry)  # insert-only, and written for every hold processing makes
    return entry
