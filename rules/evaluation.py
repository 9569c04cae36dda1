"""Evaluating blocks against risk signals: allow first, then hold, then flag.

Shadow blocks are evaluated and recorded but never act."""

import functools
import time
from dataclasses import dataclass, field
from typing import Any

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


# Blocks are read on every event; a worker keeps them this long, so a change takes effect
# within seconds without a query per event.
BLOCK_CACHE_SECONDS = 2.0
_live_cache: tuple[float, list[Block]] = (0.0, [])


def blocks_live() -> list[Block]:
    global _live_cache
    now = time.monotonic()
    fetched_at, blocks = _live_cache
    if now - fetched_at > BLOCK_CACHE_SECONDS:
        blocks = list(
            Block.objects.filter(status__in=[BlockStatus.ACTIVE, BlockStatus.SHADOW]).order_by(
                "priority", "created_at"
            )
        )
        _live_cache = (now, blocks)
    return blocks


_ofac_cache: tuple[float, list[str]] = (0.0, [])


def ofac_regions_cached() -> list[str]:
    global _ofac_cache
    now = time.monotonic()
    fetched_at, regions = _ofac_cache
    if now - fetched_at > BLOCK_CACHE_SECONDS:
        regions = ofac_regions()
        _ofac_cache = (now, regions)
    return regions


def caches_clear() -> None:
    """Forget cached blocks and risk lists (after this process changed them)."""
    global _live_cache, _ofac_cache
    _live_cache = (0.0, [])
    _ofac_cache = (0.0, [])


def signals_needed(blocks: list[Block]) -> frozenset[str]:
    """The signals the blocks read, plus order_value for the hold record."""
    names = {"order_value"}
    for block in blocks:
        names |= compiled(block.condition).signal_names
    return frozenset(names)


def blocks_evaluate(blocks: list[Block], signals: dict[str, Any]) -> Outcome:
    outcome = Outcome()
    for action in ACTION_ORDER:
        for block in (b for b in blocks if b.action == action):
            evaluation = compiled(block.condition).evaluate(signals)
            if not evaluation.matched:
                continue
            if block.status == BlockStatus.SHADOW:
                outcome.shadow.append(Match(block, evaluation))
            elif action not in outcome.first:
                outcome.first[action] = Match(block, evaluation)
    return outcome


def reasons_for(match: Match) -> list[str]:
    """Human-readable reasons: the block and the values that made it match."""
    values = ", ".join(
        f"{name}={value!s}" for name, value in sorted(match.evaluation.values.items())
    )
    reasons = [f"{match.block.name}: {match.block.condition}"]
    if values:
        reasons.append(f"signals: {values}")
    return reasons
