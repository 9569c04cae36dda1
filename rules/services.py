"""Writes on blocks, orders and holds; and event_evaluate, the processing consumer that holds
orders. Every change an auditor cares about writes its audit entry in the same transaction."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core import plain_sql
from core.audit import actor_label, audit_record
from core.errors import Conflict, Invalid
from rules.conditions import ConditionError, parse
from rules.evaluation import (
    Match,
    Outcome,
    blocks_evaluate,
    blocks_in_scope,
    blocks_live,
    caches_clear,
    ofac_regions_cached,
    reasons_for,
    signals_needed,
)
from rules.models import (
    FINANCE_NOTE_RELEASED,
    REJECT_OUTCOMES,
    RELEASE_OUTCOMES,
    AuditAction,
    Block,
    BlockAction,
    BlockStatus,
    BlockVersion,
    Decision,
    HeldOrder,
    HoldSource,
    HoldStatus,
    Order,
    ReleaseRequest,
    ReviewPolicy,
)
from rules.risk_signals import (
    SIGNAL_NAMES,
    SignalInputs,
    payment_method_remember,
    signals_compute,
    signals_for_json,
    signals_unreadable,
)
from rules.signals import hold_changed
from webhooks.models import Event
from webhooks.providers import OrderView, get_scheme

logger = logging.getLogger(__name__)

BLOCK_FIELDS = ("name", "condition", "action", "metadata", "status", "priority", "event_types")


class RuleError(Invalid):
    """Input that cannot become a block or a decision; `field` names the input at fault."""


class HoldConflict(Conflict):
    """The hold was already decided."""


# --- Blocks -------------------------------------------------------------------------------


def condition_validate(condition: str) -> str:
    try:
        parse(condition, known_signals=SIGNAL_NAMES)
    except ConditionError as error:
        raise RuleError(str(error), field="condition") from None
    return condition.strip()


def block_values_clean(values: dict[str, Any]) -> dict[str, Any]:
    """The block fields as stored, or RuleError naming the field at fault."""
    clean = dict(values)
    if "condition" in clean:
        clean["condition"] = condition_validate(clean["condition"])
    if "action" in clean and clean["action"] not in BlockAction.values:
        raise RuleError(f"action must be one of {', '.join(BlockAction.values)}", field="action")
    if "status" in clean and clean["status"] not in BlockStatus.values:
        raise RuleError(f"status must be one of {', '.join(BlockStatus.values)}", field="status")
    if "metadata" in clean and not isinstance(clean["metadata"], dict):
        raise RuleError("metadata must be an object", field="metadata")
    if "event_types" in clean and not (
        isinstance(clean["event_types"], list)
        and all(isinstance(t, str) and t for t in clean["event_types"])
    ):
        raise RuleError("event_types must be a list of event type names", field="event_types")
    if "name" in clean and not str(clean["name"]).strip():
        raise RuleError("name is required", field="name")
    return clean


def _version_record(block: Block, actor) -> None:
    BlockVersion.objects.create(
        block=block,
        version=block.version,
        snapshot=block.snapshot(),
        changed_by=actor if getattr(actor, "pk", None) else None,
        changed_by_label=actor_label(actor),
    )


@transaction.atomic
def block_create(*, actor=None, **values) -> Block:
    unknown = set(values) - set(BLOCK_FIELDS)
    if unknown:
        raise RuleError(f"unknown fields: {', '.join(sorted(unknown))}")
    for required in ("name", "condition"):
        if not values.get(required):
            raise RuleError(f"{required} is required", field=required)
    block = Block.objects.create(**block_values_clean(values))
    caches_clear()
    _version_record(block, actor)
    audit_record(
        action=AuditAction.BLOCK_CREATED,
        obj_type="block",
        obj_id=block.block_id,
        actor=actor,
        after={"version": 1, **block.snapshot()},
    )
    return block


def block_update(*, block: Block, actor=None, reason: str = "", **changes) -> Block:
    unknown = set(changes) - set(BLOCK_FIELDS)
    if unknown:
        raise RuleError(f"unknown fields: {', '.join(sorted(unknown))}")
    clean = block_values_clean(changes)
    with transaction.atomic():
        # Lock so two concurrent edits get consecutive versions instead of one lost update.
        block = Block.objects.select_for_update().get(pk=block.pk)
        before = block.snapshot()
        for name, value in clean.items():
            setattr(block, name, value)
        if block.snapshot() == before:
            return block
        block.version += 1
        block.save()
        caches_clear()
        _version_record(block, actor)
        audit_record(
            action=AuditAction.BLOCK_CHANGED,
            obj_type="block",
            obj_id=block.block_id,
            actor=actor,
            reason=reason,
            before={"version": block.version - 1, **before},
            after={"version": block.version, **block.snapshot()},
        )
    return block


# --- Orders -------------------------------------------------------------------------------


# One statement creates or refreshes the order and locks its row for the transaction: the lock
# serialises the processing of concurrent events of one order, so the second sees the first's
# hold instead of racing it. Values the event does not carry (NULL) keep what is stored.
_ORDER_UPSERT = """
INSERT INTO {table} AS o (order_id, endpoint_id, customer_id, amount, currency,
    ship_to_country, bill_to_country, payment_method, metadata, first_seen_at, updated_at)
VALUES (%(order_id)s, %(endpoint_id)s, COALESCE(%(customer_id)s, ''), %(amount)s,
    COALESCE(%(currency)s, ''), COALESCE(%(ship_to_country)s, ''),
    COALESCE(%(bill_to_country)s, ''), COALESCE(%(payment_method)s, ''), '{}',
    %(received_at)s, %(now)s)
ON CONFLICT (order_id) DO UPDATE SET
    customer_id = COALESCE(%(customer_id)s, o.customer_id),
    amount = COALESCE(%(amount)s, o.amount),
    currency = COALESCE(%(currency)s, o.currency),
    ship_to_country = COALESCE(%(ship_to_country)s, o.ship_to_country),
    bill_to_country = COALESCE(%(bill_to_country)s, o.bill_to_country),
    payment_method = COALESCE(%(payment_method)s, o.payment_method),
    first_seen_at = CASE WHEN excluded.first_seen_at < o.first_seen_at
        THEN excluded.first_seen_at ELSE o.first_seen_at END,
    updated_at = excluded.updated_at
RETURNING {columns}
"""


def _order_lock(event: Event, view: OrderView) -> Order:
    """The order row, created if new, refreshed from the event and locked for this transaction."""
    params = {
        "order_id": view.order_id,
        "endpoint_id": event.endpoint_id,
        "customer_id": view.customer_id,
        "amount": view.amount,
        "currency": view.currency,
        "ship_to_country": view.ship_to_country,
        "bill_to_country": view.bill_to_country,
        "payment_method": view.payment_method,
        "received_at": event.received_at,
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        sql = _ORDER_UPSERT.replace("{table}", plain_sql.table(Order))
        cursor.execute(sql.replace("{columns}", plain_sql.columns(Order)), params)
        [(order,)] = plain_sql.instances((Order,), cursor.fetchall())
    return order


def order_metadata_update(*, order: Order, metadata: dict, actor=None) -> Order:
    if not isinstance(metadata, dict):
        raise RuleError("metadata must be an object", field="metadata")
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        before = dict(order.metadata)
        order.metadata = {**before, **metadata}
        order.save(update_fields=["metadata", "updated_at"])
        audit_record(
            action=AuditAction.ORDER_METADATA_CHANGED,
            obj_type="order",
            obj_id=order.order_id,
            order_id=order.order_id,
            actor=actor,
            before=before,
            after=order.metadata,
        )
    return order


# --- Evaluation (the processing consumer) ---------------------------------------------------


def event_evaluate(*, event: Event, order_view: OrderView) -> HeldOrder | None:
    """Evaluate live blocks for an event's order and hold it when a hold block matches.

    Runs inside the processing transaction, so a failure anywhere undoes all of it. Idempotent:
    a hold is tied to the event that created it, an order has at most one open hold, and an
    order a reviewer already decided is not held again by later events of the same order."""
    if not order_view.order_id:
        return None
    order = _order_lock(event, order_view)
    blocks = blocks_in_scope(event.event_type, blocks_live())
    signals = signals_compute(
        SignalInputs.of(event, order_view, order),
        ofac=ofac_regions_cached(),
        names=signals_needed(blocks),
    )
    payment_method_remember(
        customer_id=order.customer_id or None,
        method=order_view.payment_method,
        at=event.received_at,
    )
    outcome = blocks_evaluate(blocks, signals, signals_unreadable(order_view))
    matches = [*outcome.first.values(), *outcome.shadow]
    if matches:
        _decisions_record(event, order, matches)

    decision = hold_decide(event=event, order_view=order_view, outcome=outcome,
                           holds_of=lambda: _holds_of(order))  # fmt: skip
    if decision is None:
        return None
    return _hold_create(
        event=event,
        order=order,
        signals=signals,
        source=decision.source,
        reasons=decision.reasons,
        match=decision.match,
        upstream_block_id=decision.upstream_block_id,
    )


@dataclass(frozen=True)
class HoldDecision:
    """That an event holds its order, and why."""

    source: str
    reasons: list[str]
    match: Match | None = None
    upstream_block_id: str = ""


def hold_decide(
    *,
    event: Event,
    order_view: OrderView,
    outcome: Outcome,
    holds_of: Callable[[], list[tuple[str, str]]],
) -> HoldDecision | None:
    """Whether this event holds its order: the one rule processing and the dry run share.

    An upstream hold or a matching hold block holds the order, unless this event already
    created its hold (a replay or retry), the order is held now, or (for blocks) a reviewer
    already decided the order: later events do not re-hold it. `holds_of` answers (event id,
    status) of the order's holds; it is only asked when something would hold."""
    upstream = _is_upstream_hold(event)
    if not upstream and outcome.holds is None:
        return None
    holds = holds_of()
    if any(event_id == event.pk for event_id, _ in holds):
        return None
    if any(status == HoldStatus.HELD for _, status in holds):
        return None
    if upstream:
        upstream_block_id = order_view.upstream_block_id or ""
        return HoldDecision(
            source=HoldSource.UPSTREAM,
            reasons=[_upstream_hold_reason(event, upstream_block_id)],
            upstream_block_id=upstream_block_id,
        )
    if holds:
        return None
    return HoldDecision(
        source=HoldSource.BLOCK, reasons=reasons_for(outcome.holds), match=outcome.holds
    )


def _holds_of(order: Order) -> list[tuple[str, str]]:
    """(event id, status) of the order's holds. Read for every held event, so plain SQL:
    the queryset would cost several times the query."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT event_id, status FROM {HeldOrder._meta.db_table} WHERE order_id = %s",  # noqa: S608
            [order.pk],
        )
        return cursor.fetchall()


def _is_upstream_hold(event: Event) -> bool:
    """Whether the event's provider says it held the order itself: its scheme knows."""
    return get_scheme(event.endpoint.provider).reports_upstream_hold(event.event_type)


def _upstream_hold_reason(event: Event, block_id: str | None) -> str:
    label = get_scheme(event.endpoint.provider).label
    return f"held upstream by {label} ({block_id or 'no block_id'})"


_DECISION_REFRESH = """(event_id, block_id) DO UPDATE SET block_version = excluded.block_version,
    action = excluded.action, shadow = excluded.shadow, signals = excluded.signals,
    unknown_signals = excluded.unknown_signals"""


def _decisions_record(event: Event, order: Order, matches: list[Match]) -> None:
    # One upsert for all of an event's decisions: a replay refreshes them in place.
    plain_sql.insert_many(
        [
            Decision(
                event=event,
                block=match.block,
                block_version=match.block.version,
                action=match.block.action,
                shadow=match.block.status == BlockStatus.SHADOW,
                signals=signals_for_json(match.evaluation.values),
                unknown_signals=sorted(match.evaluation.unknown),
                order_id=order.order_id,
            )
            for match in matches
        ],
        on_conflict=_DECISION_REFRESH,
    )


def _hold_create(
    *,
    event: Event,
    order: Order,
    signals: dict[str, Any],
    source: str,
    reasons: list[str],
    match: Match | None = None,
    upstream_block_id: str = "",
) -> HeldOrder:
    matched = match.evaluation.values if match else signals
    hold = HeldOrder(
        order=order,
        source=source,
        amount=order.amount,
        currency=order.currency,
        customer_id=order.customer_id,
        block=match.block if match else None,
        block_version=match.block.version if match else None,
        upstream_block_id=upstream_block_id,
        reasons=reasons,
        signals=signals_for_json(matched),
        event=event,
        is_test=event.is_test,
    )
    plain_sql.insert(hold)  # one per held order processing makes: skip the query compiler
    audit_record(
        action=AuditAction.HOLD_CREATED,
        obj_type="hold",
        obj_id=hold.id,
        order_id=order.order_id,
        reason="; ".join(reasons),
        after=hold_summary(hold),
    )
    hold_changed.send(sender=HeldOrder, hold=hold, event_type="order.held")
    logger.info("order %s held (%s) by event %s", order.order_id, hold.id, event.pk)
    return hold


def hold_summary(hold: HeldOrder) -> dict[str, Any]:
    return {
        "id": hold.id,
        "order_id": hold.order.order_id,
        "status": hold.status,
        "amount": str(hold.amount) if hold.amount is not None else None,
        "currency": hold.currency,
        "block_id": hold.public_block_id,
        "block_version": hold.block_version,
        "reviewer": hold.reviewer.get_username() if hold.reviewer else None,
        "reason": hold.decision_reason or None,
        "outcome": hold.outcome or None,
    }


# --- Review -------------------------------------------------------------------------------


def outcome_validate(outcome: str | None, *, status: str) -> str:
    """The outcome label for a release or a reject ("" for none), or RuleError."""
    outcome = (outcome or "").strip()
    allowed = RELEASE_OUTCOMES if status == HoldStatus.RELEASED else REJECT_OUTCOMES
    if outcome and outcome not in allowed:
        verb = "release" if status == HoldStatus.RELEASED else "reject"
        raise RuleError(f"a {verb} outcome is one of {', '.join(allowed)}", field="outcome")
    return outcome


def _hold_decide(
    *, hold: HeldOrder, actor, reason: str, status: str, outcome: str = ""
) -> HeldOrder:
    reason = (reason or "").strip()
    if not reason:
        raise RuleError("a reason is required", field="reason")
    outcome = outcome_validate(outcome, status=status)
    with transaction.atomic():
        # Two reviewers deciding at once: the row lock makes the second see the first's decision.
        hold = HeldOrder.objects.select_for_update().select_related("order").get(pk=hold.pk)
        if hold.status != HoldStatus.HELD:
            raise HoldConflict(f"hold {hold.id} is already {hold.status}")
        before = hold_summary(hold)
        hold.status = status
        hold.reviewer = actor
        hold.decision_reason = reason
        hold.outcome = outcome
        hold.decided_at = timezone.now()
        if status == HoldStatus.RELEASED:
            hold.finance_note = FINANCE_NOTE_RELEASED
        hold.save()
        audit_record(
            action=(
                AuditAction.HOLD_RELEASED
                if status == HoldStatus.RELEASED
                else AuditAction.HOLD_REJECTED
            ),
            obj_type="hold",
            obj_id=hold.id,
            order_id=hold.order.order_id,
            actor=actor,
            reason=reason,
            before=before,
            after=hold_summary(hold),
        )
        hold_changed.send(sender=HeldOrder, hold=hold, event_type=f"order.{status}")
    return hold


def hold_release(*, hold: HeldOrder, actor, reason: str, outcome: str = "") -> HeldOrder:
    return _hold_decide(
        hold=hold, actor=actor, reason=reason, status=HoldStatus.RELEASED, outcome=outcome
    )


def hold_reject(*, hold: HeldOrder, actor, reason: str, outcome: str = "") -> HeldOrder:
    return _hold_decide(
        hold=hold, actor=actor, reason=reason, status=HoldStatus.REJECTED, outcome=outcome
    )


# --- Four-eyes review (the console) ---------------------------------------------------------


def review_policy() -> ReviewPolicy:
    """The review policy in force; the default (one reviewer decides) until operations set one."""
    return ReviewPolicy.objects.filter(pk=1).first() or ReviewPolicy(pk=1)


def review_policy_set(*, four_eyes_amount: Decimal | None, actor=None) -> ReviewPolicy:
    if four_eyes_amount is not None and four_eyes_amount < 0:
        raise RuleError("the four-eyes amount cannot be negative", field="four_eyes_amount")
    with transaction.atomic():
        policy, _ = ReviewPolicy.objects.select_for_update().get_or_create(pk=1)
        before = policy.four_eyes_amount
        policy.four_eyes_amount = four_eyes_amount
        policy.updated_by = actor if getattr(actor, "pk", None) else None
        policy.save()
        audit_record(
            action=AuditAction.REVIEW_POLICY_CHANGED,
            obj_type="review_policy",
            obj_id="1",
            actor=actor,
            before={"four_eyes_amount": str(before) if before is not None else None},
            after={"four_eyes_amount": str(four_eyes_amount) if four_eyes_amount else None},
        )
    return policy


def hold_needs_second_reviewer(hold: HeldOrder, policy: ReviewPolicy | None = None) -> bool:
    limit = (policy or review_policy()).four_eyes_amount
    return limit is not None and hold.amount is not None and hold.amount > limit


def hold_release_request(*, hold: HeldOrder, actor, reason: str, outcome: str = "") -> HeldOrder:
    """Release a hold, or, when the review policy wants four eyes on it, record this reviewer's
    release for a second, different reviewer to confirm (hold_release_confirm). Both steps are
    audited."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleError("a reason is required", field="reason")
    outcome = outcome_validate(outcome, status=HoldStatus.RELEASED)
    if not hold_needs_second_reviewer(hold):
        return hold_release(hold=hold, actor=actor, reason=reason, outcome=outcome)
    with transaction.atomic():
        # Locked like a decision: a concurrent release or reject of the same hold waits.
        hold = HeldOrder.objects.select_for_update().select_related("order").get(pk=hold.pk)
        if hold.status != HoldStatus.HELD:
            raise HoldConflict(f"hold {hold.id} is already {hold.status}")
        if ReleaseRequest.objects.filter(hold=hold).exists():
            raise RuleError("a release of this hold is already waiting for confirmation")
        ReleaseRequest.objects.create(hold=hold, requested_by=actor, reason=reason, outcome=outcome)
        audit_record(
            action=AuditAction.HOLD_RELEASE_CONFIRMATION,
            obj_type="hold",
            obj_id=hold.id,
            order_id=hold.order.order_id,
            actor=actor,
            reason=reason,
            before=hold_summary(hold),
            after={"waiting_for": "a second reviewer", "amount": str(hold.amount)},
        )
    return hold


def hold_release_confirm(
    *, hold: HeldOrder, actor, reason: str = "", outcome: str = ""
) -> HeldOrder:
    """The second reviewer's confirmation of a release waiting for four eyes; the outcome is
    the confirming reviewer's, or else the one the first reviewer gave."""
    outcome = outcome_validate(outcome, status=HoldStatus.RELEASED)
    with transaction.atomic():
        hold = HeldOrder.objects.select_for_update().get(pk=hold.pk)
        request = (
            ReleaseRequest.objects.select_for_update()
            .select_related("requested_by")
            .filter(hold=hold)
            .first()
        )
        if request is None or hold.status != HoldStatus.HELD:
            raise RuleError("no release of this hold is waiting for confirmation")
        if request.requested_by_id == getattr(actor, "pk", None):
            raise RuleError("a second, different reviewer must confirm this release")
        note = (reason or "").strip()
        full_reason = (
            f"{request.reason} (requested by {actor_label(request.requested_by)}, "
            f"confirmed by {actor_label(actor)}{': ' + note if note else ''})"
        )
        outcome = outcome or request.outcome
        request.delete()
        return hold_release(hold=hold, actor=actor, reason=full_reason, outcome=outcome)


def hold_release_under_policy(
    *, hold: HeldOrder, actor, reason: str, outcome: str = ""
) -> HeldOrder:
    """A reviewer's release, as the review policy wants it, for the admin and the API alike:
    a release of a hold another reviewer already asked to release confirms it; otherwise it
    releases, or, above the four-eyes amount, waits for a second reviewer (the hold stays
    held)."""
    if ReleaseRequest.objects.filter(hold=hold).exists():
        return hold_release_confirm(hold=hold, actor=actor, reason=reason, outcome=outcome)
    return hold_release_request(hold=hold, actor=actor, reason=reason, outcome=outcome)


# --- Replay preview (the console's dry run) --------------------------------------------------


def event_evaluate_preview(*, event: Event, order_view: OrderView) -> dict[str, Any] | None:
    """The hold event_evaluate would create for this event now, or None; writes nothing.

    Decides with hold_decide, as processing does, on the stored state: blocks live now and
    the order's existing holds."""
    if not order_view.order_id:
        return None
    order = Order.objects.filter(order_id=order_view.order_id).first()
    decision = event_decision_preview(
        event=event,
        order_view=order_view,
        order=order,
        blocks=blocks_live(),
        holds_of=lambda: _holds_of(order) if order else [],
    )
    if decision is None:
        return None
    amount = order_view.amount if order_view.amount is not None else getattr(order, "amount", None)
    return {
        "order_id": order_view.order_id,
        "event": event.pk,
        "amount": str(amount) if amount is not None else None,
        "block_id": decision.match.block.block_id
        if decision.match
        else decision.upstream_block_id or None,
        "reasons": decision.reasons,
    }


def event_decision_preview(
    *,
    event: Event,
    order_view: OrderView,
    order: Order | None,
    blocks: list[Block],
    holds_of: Callable[[], list[tuple[str, str]]],
) -> HoldDecision | None:
    """The hold decision processing would make for this event if `blocks` were the live
    blocks, on the stored state; writes nothing. The replay dry run asks it with the blocks
    live now, the re-check of the open queue (rules.recheck) with one block swapped for an
    unsaved edit of it: the same signals, blocks_evaluate and hold_decide as event_evaluate."""
    blocks = blocks_in_scope(event.event_type, blocks)
    signals = signals_compute(
        SignalInputs.of(event, order_view, order),
        ofac=ofac_regions_cached(),
        names=signals_needed(blocks),
    )
    outcome = blocks_evaluate(blocks, signals, signals_unreadable(order_view))
    return hold_decide(event=event, order_view=order_view, outcome=outcome, holds_of=holds_of)
