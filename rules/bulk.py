"""Decisions on many holds at once: a reviewer's bulk release or reject.

The request decides what it can within a few seconds, so a bulk decision of a page of holds
answers at once with every outcome; what is left goes to the worker cluster in chunks, decided
there as the same reviewer with the same reason. Each decision is the single-hold service, so
the review policy (four eyes) and the audit trail apply to every hold alike. Deciding a hold
twice is harmless: a redelivered chunk finds its holds decided and leaves them as they are."""

import logging
import time
from collections import Counter

from django.contrib.auth import get_user_model

from core import task_names
from core.queue import task_enqueue
from rules.models import HeldOrder
from rules.services import (
    HoldConflict,
    RuleError,
    hold_reject,
    hold_release_confirm,
    hold_release_under_policy,
)

logger = logging.getLogger(__name__)

BULK_CHUNK = 50
# Past this many holds a bulk decision is refused: a filter that wide wants a second look.
MAX_BULK_HOLDS = 10_000
DECISIONS = ("release", "reject", "confirm")


def hold_decide(*, hold: HeldOrder, actor, decision: str, reason: str) -> str:
    """One reviewer's decision on one hold, as the admin and the bulk tasks make it; answers
    what happened, in words for a message ("released", "waiting for a second reviewer", …)."""
    if decision == "release":
        hold = hold_release_under_policy(hold=hold, actor=actor, reason=reason)
        return "released" if hold.status != "held" else "waiting for a second reviewer"
    if decision == "confirm":
        hold_release_confirm(hold=hold, actor=actor, reason=reason)
        return "released"
    if decision == "reject":
        hold_reject(hold=hold, actor=actor, reason=reason)
        return "rejected"
    raise RuleError(f"unknown decision {decision!r}")


def holds_decide(*, hold_ids: list[str], actor, decision: str, reason: str) -> Counter:
    """Decide each of these holds; a hold already decided, or refused, is counted, not raised."""
    outcomes: Counter = Counter()
    holds = HeldOrder.objects.select_related("order").in_bulk(hold_ids)
    for hold_id in hold_ids:
        hold = holds.get(hold_id)
        if hold is None:
            outcomes["no longer there"] += 1
            continue
        try:
            outcomes[hold_decide(hold=hold, actor=actor, decision=decision, reason=reason)] += 1
        except HoldConflict:
            outcomes["already decided"] += 1
        except RuleError as error:
            outcomes[str(error)] += 1
    return outcomes


def holds_decide_task(hold_ids: list[str], actor_id: int, decision: str, reason: str) -> dict:
    actor = get_user_model().objects.get(pk=actor_id)
    outcomes = holds_decide(hold_ids=hold_ids, actor=actor, decision=decision, reason=reason)
    logger.info("bulk %s by %s: %s", decision, actor, dict(outcomes))
    return dict(outcomes)


def bulk_decide(
    *, hold_ids: list[str], actor, decision: str, reason: str, seconds: float
) -> tuple[Counter, int]:
    """Decide these holds here for up to about `seconds`, then queue the rest on the cluster
    in chunks. Answers the outcomes decided here and how many holds were queued."""
    if decision not in DECISIONS:
        raise RuleError(f"unknown decision {decision!r}")
    if len(hold_ids) > MAX_BULK_HOLDS:
        raise RuleError(
            f"more than {MAX_BULK_HOLDS:,} holds selected: narrow the filter first", field="holds"
        )
    deadline = time.monotonic() + seconds
    outcomes: Counter = Counter()
    position = 0
    while position < len(hold_ids) and time.monotonic() < deadline:
        chunk = hold_ids[position : position + BULK_CHUNK]
        outcomes += holds_decide(hold_ids=chunk, actor=actor, decision=decision, reason=reason)
        position += len(chunk)
    rest = hold_ids[position:]
    for start in range(0, len(rest), BULK_CHUNK):
        chunk = rest[start : start + BULK_CHUNK]
        if not task_enqueue(task_names.HOLDS_DECIDE, chunk, actor.pk, decision, reason):
            # Nothing sweeps bulk decisions up later: say so rather than drop them.
            raise RuleError(
                f"the task queue is unreachable: {position + start:,} of {len(hold_ids):,}"
                " holds were decided or queued; decide the rest again"
            )
    return outcomes, len(rest)
