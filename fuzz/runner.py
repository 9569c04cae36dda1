"""Drives a target's properties with Hypothesis outside pytest and counts what it tried."""

import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st


class Violation(AssertionError):
    """An input broke one of the target's documented invariants."""


class ServerError(Violation):
    """An HTTP answer in the 5xx range."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise Violation(message)


@dataclass(frozen=True)
class Property:
    """One invariant: every value `strategy` generates must pass `check` without raising."""

    label: str
    strategy: st.SearchStrategy
    check: Callable[[Any], None]
    weight: int = 1


@dataclass(frozen=True)
class Target:
    """A fuzz target: a context manager setting up what it needs and yielding its properties.
    `weight` is its share of the inputs when a run's count is spread over all targets."""

    name: str
    weight: int
    description: str
    properties: Callable[[], AbstractContextManager[list[Property]]]


@dataclass
class Result:
    target: str
    inputs: int = 0
    server_errors: int = 0
    unhandled: int = 0
    violations: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.server_errors or self.unhandled or self.violations)


def split(total: int, weights: list[int]) -> list[int]:
    """`total` spread over `weights`, every share at least 1, summing exactly to `total`."""
    whole = sum(weights)
    shares = [max(1, total * weight // whole) for weight in weights]
    shares[0] += total - sum(shares)
    return shares


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        # Explicit and generated examples, shrunk to a minimal one on failure.
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
        print_blob=False,
    )


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def _record_failure(result: Result, error: BaseException, label: str) -> None:
    for leaf in _leaves(error):
        if isinstance(leaf, ServerError):
            result.server_errors += 1
        elif isinstance(leaf, Violation):
            result.violations += 1
        else:
            result.unhandled += 1
    # The notes Hypothesis attaches name the minimal failing input.
    result.failures.append(f"[{label}]\n" + "".join(traceback.format_exception(error)))


def run_property(prop: Property, examples: int, result: Result) -> None:
    """Run `prop` on at least `examples` generated inputs (more while shrinking a failure),
    stopping at the first failure."""
    calls = 0

    def check(value):
        nonlocal calls
        calls += 1
        prop.check(value)

    # Hypothesis stops early when it runs out of distinct inputs or meets many rejected ones;
    # a fresh run with a fresh seed continues until the quota is met.
    while calls < examples:
        before = calls
        test = _settings(examples - calls)(given(value=prop.strategy)(check))
        try:
            test()
        except (Exception, BaseExceptionGroup) as error:
            result.inputs += calls
            _record_failure(result, error, prop.label)
            return
        if calls == before:
            break
    result.inputs += calls


def run_target(target: Target, examples: int) -> Result:
    result = Result(target.name)
    started = time.perf_counter()
    try:
        with target.properties() as properties:
            shares = split(examples, [prop.weight for prop in properties])
            # A failing property does not stop the others: each reports its own minimal input.
            for prop, share in zip(properties, shares, strict=True):
                run_property(prop, share, result)
    except Exception as error:
        _record_failure(result, error, "setup")
    result.seconds = time.perf_counter() - started
    return result


def table(results: list[Result]) -> str:
    header = ("target", "inputs", "per s", "seconds", "5xx", "unhandled", "violations")
    rows = [
        (
            r.target,
            str(r.inputs),
            f"{r.inputs / r.seconds:.0f}" if r.seconds else "-",
            f"{r.seconds:.1f}",
            str(r.server_errors),
            str(r.unhandled),
            str(r.violations),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)
