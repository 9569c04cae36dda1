"""A hold's evidence package: one JSON document with everything behind one decision, and a
digest over it (docs/rules.md, "Evidence package").

The document holds the hold, its order, the block version and condition that held it, the
signals, each event of the order (raw body in base64, headers, and the signature checked again
at export time, webhooks.evidence), the decisions, the audit entries (with their places and
hashes in the chain), and what sections registered by the apps above add: integrations adds the
outbound deliveries with their answers. `digest` is "sha256:<hex>" over the canonical JSON of
everything else (keys sorted, no spaces, UTF-8).

evidence_verify() checks a document offline: its digest, its structure, each body against its
SHA-256, and each audit entry's hashes. It cannot check the signatures: that needs the secrets."""

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.utils import timezone

from core import audit_chain
from core.audit import actor_label
from core.models import AuditEntry
from rules.models import BlockVersion, Decision, HeldOrder, HoldStatus, ReleaseRequest
from rules.serializers import HoldSerializer
from webhooks.evidence import event_evidence
from webhooks.models import Event

logger = logging.getLogger(__name__)

FORMAT = "hookdesk.evidence/1"
# Who may download a package: whoever may see the hold, its events' raw bodies and the audit
# trail (compliance reviewers, operations and auditors).
EVIDENCE_PERMISSIONS = ("rules.view_heldorder", "webhooks.view_event", "core.view_auditentry")
MAX_EVENTS = 200
MAX_AUDIT_ENTRIES = 2000
# Sections every package has, empty until an app registers their source. `comments` is filled
# by whoever adds comments on holds, with one line in their app's ready():
#   evidence_section_register("comments", <callable(hold) -> list of JSON objects>)
LIST_SECTIONS = ("events", "decisions", "comments", "audit_entries", "outbound_deliveries")
REQUIRED = ("format", "generated_at", "hold", "order", "block", "signals", *LIST_SECTIONS)

# The extension point for sections a higher app (or a later feature) adds: name -> source.
_SECTIONS: dict[str, Callable[[HeldOrder], Any]] = {}


def evidence_section_register(name: str, source: Callable[[HeldOrder], Any]) -> None:
    """Add a section to every evidence package: `source(hold)` returns its JSON value."""
    if name in REQUIRED and name not in LIST_SECTIONS:
        raise ValueError(f"{name} is a section of its own")
    _SECTIONS[name] = source


# --- Assembly -------------------------------------------------------------------------------


def _order(hold: HeldOrder) -> dict[str, Any]:
    order = hold.order
    return {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "amount": str(order.amount) if order.amount is not None else None,
        "currency": order.currency,
        "ship_to_country": order.ship_to_country,
        "bill_to_country": order.bill_to_country,
        "payment_method": order.payment_method,
        "metadata": order.metadata,
        "first_seen_at": order.first_seen_at,
    }


def _block(hold: HeldOrder) -> dict[str, Any]:
    if not hold.block_id:
        return {"source": hold.source, "block_id": hold.upstream_block_id or None,
                "version": None, "condition": None}  # fmt: skip
    version = BlockVersion.objects.filter(
        block_id=hold.block_id, version=hold.block_version
    ).first()
    snapshot = version.snapshot if version else hold.block.snapshot()
    return {
        "source": hold.source,
        "block_id": hold.block.block_id,
        "version": hold.block_version,
        **snapshot,
        "version_recorded_at": version.changed_at if version else None,
        "version_recorded_by": version.changed_by_label if version else None,
    }


def _events(hold: HeldOrder) -> list[Event]:
    events = list(
        Event.objects.filter(order_id=hold.order.order_id)
        .select_related("endpoint", "verified_by")
        .order_by("received_at", "id")[:MAX_EVENTS]
    )
    if hold.event_id not in {event.pk for event in events}:
        trigger = Event.objects.select_related("endpoint", "verified_by").get(pk=hold.event_id)
        events = sorted([*events, trigger], key=lambda event: (event.received_at, event.pk))
    return events


def _decisions(hold: HeldOrder, events: list[Event]) -> list[dict[str, Any]]:
    rows = Decision.objects.filter(event__in=[event.pk for event in events]).select_related("block")
    decisions: list[dict[str, Any]] = [
        {
            "kind": "block",
            "event": decision.event_id,
            "block_id": decision.block.block_id,
            "block_version": decision.block_version,
            "action": decision.action,
            "shadow": decision.shadow,
            "signals": decision.signals,
            "unknown_signals": decision.unknown_signals,
            "at": decision.created_at,
        }
        for decision in rows.order_by("created_at", "id")
    ]
    request = ReleaseRequest.objects.filter(hold=hold).select_related("requested_by").first()
    if request is not None:
        decisions.append({"kind": "release_requested", "by": actor_label(request.requested_by),
                          "reason": request.reason, "at": request.requested_at})  # fmt: skip
    if hold.status != HoldStatus.HELD:
        decisions.append({"kind": "review", "status": hold.status,
                          "by": actor_label(hold.reviewer), "reason": hold.decision_reason,
                          "at": hold.decided_at})  # fmt: skip
    return decisions


def audit_entry_evidence(entry: dict[str, Any]) -> dict[str, Any]:
    """An audit entry with its place and hashes, its content as the chain hashes it."""
    return {
        "id": entry["id"],
        "seq": entry["seq"],
        "prev_hash": entry["prev_hash"],
        "hash": entry["hash"],
        "content_hash": entry["content_hash"],
        **audit_chain.content_of(entry),
    }


def _audit_entries(hold: HeldOrder) -> list[dict[str, Any]]:
    hold_ids = list(hold.order.holds.values_list("pk", flat=True))
    entries = AuditEntry.objects.filter(
        Q(order_id=hold.order.order_id) | Q(object_type="hold", object_id__in=hold_ids)
    ).order_by("seq", "id")
    return [
        audit_entry_evidence(row)
        for row in entries.values(*audit_chain.ROW_FIELDS)[:MAX_AUDIT_ENTRIES]
    ]


def hold_evidence(*, hold: HeldOrder, actor=None) -> dict[str, Any]:
    """The evidence package of a hold, with its digest."""
    hold = HeldOrder.objects.select_related("order", "block", "reviewer").get(pk=hold.pk)
    events = _events(hold)
    document: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": timezone.now(),
        "generated_by": actor_label(actor),
        "hold": HoldSerializer(hold).data,
        "order": _order(hold),
        "block": _block(hold),
        "signals": hold.signals,
        "events": [
            {**event_evidence(event), "triggered_hold": event.pk == hold.event_id}
            for event in events
        ],
        "decisions": _decisions(hold, events),
        "audit_entries": _audit_entries(hold),
        "comments": [],
        "outbound_deliveries": [],
    }
    for name, source in _SECTIONS.items():
        document[name] = source(hold)
    # What is delivered is JSON: the digest is taken over exactly that.
    document = json.loads(json.dumps(document, cls=DjangoJSONEncoder))
    document["digest"] = evidence_digest(document)
    logger.info("evidence of hold %s exported by %s", hold.pk, actor_label(actor))
    return document


def evidence_digest(document: dict[str, Any]) -> str:
    rest = {key: value for key, value in document.items() if key != "digest"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- Offline verification ---------------------------------------------------------------------


def _event_problems(index: int, event: Any) -> list[str]:
    where = f"events[{index}]"
    if not isinstance(event, dict):
        return [f"{where} is not an object"]
    missing = [key for key in ("id", "body_base64", "body_sha256", "headers", "signature")
               if key not in event]  # fmt: skip
    if missing:
        return [f"{where} lacks {', '.join(missing)}"]
    try:
        body = base64.b64decode(event["body_base64"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        return [f"{where} ({event['id']}): body_base64 is not base64"]
    problems = []
    if hashlib.sha256(body).hexdigest() != event["body_sha256"]:
        problems.append(f"{where} ({event['id']}): the body does not match its SHA-256")
    signature = event["signature"]
    if not isinstance(signature, dict) or not {"scheme", "verified", "secret_fingerprint"} <= set(
        signature
    ):
        problems.append(f"{where} ({event['id']}): signature lacks scheme/verified/fingerprint")
    return problems


def _audit_problems(entries: list) -> list[str]:
    problems, previous = [], None
    for index, entry in enumerate(entries):
        where = f"audit_entries[{index}]"
        try:
            if audit_chain.content_hash(entry) != entry["content_hash"]:
                problems.append(f"{where} (id {entry['id']}): its content does not match its hash")
            elif entry["seq"] is not None and entry["hash"] != audit_chain.link_hash(
                entry["seq"], entry["prev_hash"], entry["content_hash"]
            ):
                problems.append(f"{where} (id {entry['id']}): its chain hash does not match")
            elif (
                previous
                and previous["seq"] is not None
                and entry["seq"] == previous["seq"] + 1
                and entry["prev_hash"] != previous["hash"]
            ):
                problems.append(f"{where} (id {entry['id']}): does not link to the one before")
        except (KeyError, TypeError, ValueError):
            problems.append(f"{where} is not an audit entry")
        previous = entry if isinstance(entry, dict) else None
    return problems


def evidence_verify(document: Any) -> list[str]:
    """What is wrong with an evidence package, or [] when it checks out. Offline: the
    signatures' `verified` flags are taken as recorded at export, since checking them again
    needs the endpoints' secrets."""
    if not isinstance(document, dict):
        return ["the document is not a JSON object"]
    problems = []
    digest = document.get("digest")
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        problems.append("no sha256 digest")
    elif evidence_digest(document) != digest:
        problems.append("the digest does not match the document: it was changed after export")
    if document.get("format") != FORMAT:
        problems.append(f"format is not {FORMAT}")
    missing = [key for key in REQUIRED if key not in document]
    if missing:
        problems.append(f"missing sections: {', '.join(missing)}")
    for name in LIST_SECTIONS:
        if name in document and not isinstance(document[name], list):
            problems.append(f"{name} is not a list")
    if isinstance(document.get("events"), list):
        if not any(isinstance(e, dict) and e.get("triggered_hold") for e in document["events"]):
            problems.append("no event is marked as the one that triggered the hold")
        for index, event in enumerate(document["events"]):
            problems += _event_problems(index, event)
    if isinstance(document.get("audit_entries"), list):
        problems += _audit_problems(document["audit_entries"])
    return problems
