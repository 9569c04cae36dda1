"""Fuzz targets for the condition language and the ISO-8601 duration parser."""

from contextlib import contextmanager
from datetime import timedelta

from hypothesis import strategies as st

from fuzz import strategies as fs
from fuzz.runner import Property, Target, require
from integrations.durations import DurationError, duration_format, duration_parse
from rules.conditions import MAX_NESTING, ConditionError, parse
from rules.risk_signals import SIGNAL_NAMES

GRAMMAR = fs.ConditionGrammar(SIGNAL_NAMES)


def check_any_text(source: str) -> None:
    """Any text parses or raises ConditionError pointing inside it; what parses evaluates."""
    try:
        condition = parse(source, known_signals=SIGNAL_NAMES)
    except ConditionError as error:
        require(0 <= error.position <= len(source), f"position {error.position} outside the text")
        require(
            str(error).startswith(f"at column {error.position + 1}: expected "),
            f"unexpected message {error}",
        )
        return
    require(isinstance(condition.evaluate({}).matched, bool), "evaluation gave no boolean")


def check_grammatical(case: tuple[str, dict]) -> None:
    """A grammatical condition parses, and evaluates against any signal values."""
    source, signals = case
    condition = parse(source, known_signals=SIGNAL_NAMES)
    evaluation = condition.evaluate(signals)
    require(isinstance(evaluation.matched, bool), "evaluation gave no boolean")
    require(set(evaluation.values) <= condition.signal_names, "read a signal it does not name")
    require(evaluation.unknown <= set(evaluation.values), "unknown signal it did not read")


@contextmanager
def condition_properties():
    yield [
        Property(
            "any text",
            st.one_of(
                st.text(),
                GRAMMAR.token_soups,
                GRAMMAR.deep_nests(MAX_NESTING),
                fs.mutated(GRAMMAR.valid_conditions(2)),
            ),
            check_any_text,
        ),
        Property(
            "grammatical",
            st.tuples(GRAMMAR.valid_conditions(3), GRAMMAR.signal_mappings),
            check_grammatical,
        ),
    ]


def check_duration(text: str) -> None:
    """Any text is a duration or a DurationError; a duration formats back to itself."""
    try:
        value = duration_parse(text)
    except DurationError as error:
        require(bool(str(error)), "a duration error without a message")
        return
    require(isinstance(value, timedelta) and value >= timedelta(0), f"odd duration {value!r}")
    require(duration_parse(duration_format(value)) == value, "does not survive formatting")


@contextmanager
def duration_properties():
    yield [Property("durations", fs.durations, check_duration)]


TARGETS = [
    Target(
        "conditions",
        30,
        "condition language: any text, and grammatical conditions",
        condition_properties,
    ),
    Target("durations", 12, "ISO-8601 durations", duration_properties),
]
