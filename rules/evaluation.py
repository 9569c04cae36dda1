"""Evaluating blocks against risk signals: allow first, then hold, then flag.

Shadow blocks are evaluated and recorded but never act."""

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.caching import InvalidatedCache, invalidated_cache
from rules.conditions import Condition, Evaluation, parse
from rules.models import Block, BlockAction, BlockStatus
from rules.risk_signals import SIGNAL_NAMES, ofac_regions

ACTION_ORDER = (BlockAction.ALLOW, BlockAction.HOLD, BlockAction.FLAG)


@functools.lru_cache(maxsize=1024)
def compiled(condition: str) -> Condition:
    """Conditions were validated on save; the cache keys on the text, so an edit recompiles."""
    return parse(condition, known_signals=SIGNAL_NAMES)


@dataclass(frozen=True)
class Match:
    block: Block
    evaluation: Evaluation
    #: Signals the condition reads and could not be computed, with why: the block matched
    #: because the rules fail closed, not because its condition held.
    unreadable: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """First match of each action among live blocks, and every shadow match."""

    first: dict[str, Match] = field(default_factory=dict)
    shadow: list[Match] = field(default_factory=list)

    @property
    def holds(self) -> Match | None:
        """The hold that applies: none when an allow block matched."""
        if BlockAction.ALLOW in self.first:
            return None
        return self.first.get(BlockAction.HOLD)


def blocks_in_scope(event_type: str, blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if not b.event_types or event_type in b.event_types]


# Blocks and risk lists are read on every event: each process keeps them until a change to a
# block or a risk-list entry commits (core.caching; the receivers are connected in apps.ready).
@invalidated_cache("rules.blocks")
def blocks_live() -> list[Block]:
    return list(
        Block.objects.filter(status__in=[BlockStatus.ACTIVE, BlockStatus.SHADOW]).order_by(
            "priority", "created_at"
        )
    )


ofac_regions_cached = InvalidatedCache(ofac_regions, name="rules.risk_lists")


def caches_clear() -> None:
    """Forget this process's copies of blocks and risk lists (the next use loads them)."""
    blocks_live.clear()
    ofac_regions_cached.clear()


def signals_needed(blocks: list[Block]) -> frozenset[str]:
    """The signals the blocks read, plus order_value for the hold record."""
    names = {"order_value"}
    for block in blocks:
        names |= compiled(block.condition).signal_names
    return frozenset(names)


def blocks_evaluate(
    blocks: list[Block], signals: dict[str, Any], unreadable: Mapping[str, str] | None = None
) -> Outcome:
    """`unreadable`: signals the payload carries but that could not be computed (see
    rules.risk_signals.signals_unreadable). The rules fail closed on them: a hold or flag
    block that reads one matches, an allow block that reads one does not."""
    outcome = Outcome()
    unreadable = unreadable or {}
    for action in ACTION_ORDER:
        for block in (b for b in blocks if b.action == action):
            condition = compiled(block.condition)
            evaluation = condition.evaluate(signals)
            unread = {n: why for n, why in unreadable.items() if n in condition.signal_names}
            if unread and action == BlockAction.ALLOW:
                continue
            if not (evaluation.matched or unread):
                continue
            match = Match(block, evaluation, unread)
            if block.status == BlockStatus.SHADOW:
                outcome.shadow.append(match)
            elif action not in outcome.first:
                outcome.first[action] = match
    return outcome


def reasons_for(match: Match) -> list[str]:
    """Human-readable reasons: the block and the values that made it match."""
    values = ", ".join(
        f"{name}={value!s}" for name, value in sorted(match.evaluation.values.items())
    )
    reasons = [f"{match.block.name}: {match.block.condition}"]
    reasons += sorted(set(match.unreadable.values()))
    if values:
        reasons.append(f"signals: {values}")
    return reasons
