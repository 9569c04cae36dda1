"""The hold-rule condition language (rules/conditions.py): parsing, errors, evaluation.

Pure Python: no database, no Django.
"""

import decimal
import operator
import pickle
from decimal import Decimal
from fractions import Fraction
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.conditions import (
    MAX_NESTING,
    MAX_NUMBER_LENGTH,
    MAX_SOURCE_LENGTH,
    Condition,
    ConditionError,
    Evaluation,
    parse,
)

NUMERIC_SIGNALS = (
    "order_value",
    "customer_age_days",
    "customer_order_count",
    "customer_avg_order_value",
    "payment_methods_count",
)
TEXT_SIGNALS = (
    "currency",
    "ship_to_country",
    "bill_to_country",
    "payment_method",
    "event_type",
    "provider",
    "environment",
)
KNOWN_SIGNALS = frozenset({*NUMERIC_SIGNALS, *TEXT_SIGNALS, "ofac_regions", "first_time_amex"})
ALL_SIGNALS = tuple(sorted(KNOWN_SIGNALS))

# A new customer shipping a large Amex order to a sanctioned region.
RISKY_ORDER = {
    "order_value": Decimal("7250.00"),
    "currency": "USD",
    "customer_age_days": 12,
    "customer_order_count": 1,
    "customer_avg_order_value": Decimal("480.00"),
    "ship_to_country": "CU",
    "bill_to_country": "US",
    "ofac_regions": ["CU", "IR", "KP", "SY"],
    "payment_method": "amex",
    "payment_methods_count": 2,
    "first_time_amex": True,
    "event_type": "order.created",
    "provider": "autranex",
    "environment": "production",
}
# A long-standing customer's small domestic order, sent by the automation provider.
ROUTINE_ORDER = {
    **RISKY_ORDER,
    "order_value": Decimal("80.00"),
    "currency": "GBP",
    "customer_age_days": 900,
    "customer_order_count": 41,
    "customer_avg_order_value": Decimal("95.00"),
    "ship_to_country": "GB",
    "bill_to_country": "GB",
    "payment_method": "visa",
    "payment_methods_count": 1,
    "first_time_amex": False,
    "event_type": "order.updated",
    "provider": "automation",
}


def check(source: str, signals: dict, *, known: frozenset[str] = KNOWN_SIGNALS) -> Evaluation:
    return parse(source, known_signals=known).evaluate(signals)


def matches(source: str, signals: dict, *, known: frozenset[str] = KNOWN_SIGNALS) -> bool:
    return check(source, signals, known=known).matched


def parse_error(source: str, *, known: frozenset[str] = KNOWN_SIGNALS) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        parse(source, known_signals=known)
    return caught.value


# ---- the brief's examples -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "risky", "routine"),
    [
        ("order_value > 5000", True, False),
        (
            "order_value > 5000 and (customer_age_days < 30 or ship_to_country != bill_to_country)",
            True,
            False,
        ),
        ("ship_to_country in ofac_regions", True, False),
        ("order_value > 10 * customer_avg_order_value", True, False),
        ("payment_methods_count > 1 and first_time_amex", True, False),
        ('event_type == "order.created" and currency in ["USD", "EUR"]', True, False),
        ("not (order_value <= 100)", True, False),
        ("provider != 'automation'", True, False),
        ("ship_to_country not in ofac_regions", False, True),
        ("true", True, True),
        ("false", False, False),
        ("-5 < order_value", True, True),
        ("order_value / 2 >= 2500.50", True, False),
    ],
)
def test_it_parses_and_evaluates_the_documented_examples(source, risky, routine):
    condition = parse(source, known_signals=KNOWN_SIGNALS)

    assert condition.source == source
    assert condition.evaluate(RISKY_ORDER).matched is risky
    assert condition.evaluate(ROUTINE_ORDER).matched is routine


def test_it_lists_the_signals_a_condition_references():
    condition = parse(
        "order_value > 5000 and (customer_age_days < 30 or ship_to_country != bill_to_country)",
        known_signals=KNOWN_SIGNALS,
    )

    assert condition.signal_names == {
        "order_value",
        "customer_age_days",
        "ship_to_country",
        "bill_to_country",
    }
    assert parse("true", known_signals=KNOWN_SIGNALS).signal_names == frozenset()


def test_it_records_the_values_it_read_as_given():
    evaluation = check('order_value > 5000 and currency == "USD"', RISKY_ORDER)

    assert evaluation == Evaluation(
        matched=True,
        values={"order_value": Decimal("7250.00"), "currency": "USD"},
        unknown=frozenset(),
    )


def test_it_only_records_what_short_circuiting_read():
    assert check("false and order_value > 5", RISKY_ORDER).values == {}
    assert check("true or order_value > 5", RISKY_ORDER).values == {}
    assert check("order_value < 5 and currency == 'USD'", RISKY_ORDER).values == {
        "order_value": Decimal("7250.00")
    }


# ---- precedence ---------------------------------------------------------------------------

ABC = frozenset({"a", "b", "c"})
TRUTH_TABLE = [
    {"a": a, "b": b, "c": c} for a in (True, False) for b in (True, False) for c in (True, False)
]


@pytest.mark.parametrize("signals", TRUTH_TABLE)
def test_it_binds_and_tighter_than_or(signals):
    a, b, c = signals["a"], signals["b"], signals["c"]

    assert matches("a or b and c", signals, known=ABC) is (a or (b and c))
    assert matches("a and b or c", signals, known=ABC) is ((a and b) or c)
    assert matches("(a or b) and c", signals, known=ABC) is ((a or b) and c)


@pytest.mark.parametrize("signals", TRUTH_TABLE)
def test_it_binds_not_tighter_than_and(signals):
    a, b = signals["a"], signals["b"]

    assert matches("not a and b", signals, known=ABC) is ((not a) and b)
    assert matches("not (a and b)", signals, known=ABC) is (not (a and b))
    assert matches("not not a", signals, known=ABC) is a


@pytest.mark.parametrize(
    "source",
    [
        "1 + 2 * 3 == 7",
        "(1 + 2) * 3 == 9",
        "2 * 3 + 1 == 7",
        "10 - 4 - 3 == 3",
        "100 / 10 / 5 == 2",
        "1 + 6 / 2 == 4",
        "-2 * 3 == -6",
        "2 - -3 == 5",
        "--4 == 4",
        "-(2 + 3) == -5",
        "- order_value + 10 == 5",
        "-order_value * -2 == 10",
        "0.1 + 0.2 == 0.3",
    ],
)
def test_it_follows_arithmetic_precedence(source):
    assert matches(source, {"order_value": 5})


def test_it_applies_not_to_the_whole_comparison():
    assert matches("not order_value > 5", {"order_value": 3})
    assert not matches("not order_value > 5", {"order_value": 7})
    assert matches(
        "not currency == 'USD' and order_value > 1", {"currency": "EUR", "order_value": 2}
    )
    # "not" is looser than comparisons, so this is not ((order_value > 5) == false) but a chain.
    assert parse_error("not order_value > 5 == false").position == 20


def test_it_treats_keywords_case_insensitively():
    assert matches("order_value > 5000 AND currency IN ['USD']", RISKY_ORDER)
    assert matches("NOT False Or FALSE", RISKY_ORDER)
    assert matches("ship_to_country Not In ['US'] and TRUE", RISKY_ORDER)
    assert matches("first_time_amex == True", RISKY_ORDER)


def test_it_reads_string_escapes():
    assert matches(r"provider == 'o\'brien'", {"provider": "o'brien"})
    assert matches(r'provider == "back\\slash"', {"provider": "back\\slash"})
    assert matches(r'provider == "say \"hi\""', {"provider": 'say "hi"'})
    assert matches('provider == "it\'s"', {"provider": "it's"})


# ---- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "position", "expected"),
    [
        ("order_value >", 13, "an operand"),
        ("(order_value > 5", 16, "')'"),
        ("order_value >> 5", 13, "an operand"),
        ("order_value > 5 5", 16, "end of condition"),
        ("unknown_signal > 1", 0, "a known signal"),
        ('"unterminated', 0, "'\"' to close the string"),
        ("'unterminated\\'", 0, '"\'" to close the string'),
        (
            "order_value < customer_age_days < 5",
            32,
            "'and' or 'or' (comparisons cannot be chained)",
        ),
        (
            "order_value in ofac_regions not in ofac_regions",
            28,
            "'and' or 'or' (comparisons cannot be chained)",
        ),
        ("", 0, "a condition"),
        ("   \t\n", 0, "a condition"),
        ("order_value > $5", 14, "an operand"),
        ("order_value > 5 $", 16, "end of condition"),
        ("order_value > 5 and", 19, "an operand"),
        ("order_value > 5 )", 16, "end of condition"),
        (")", 0, "an operand"),
        ("order_value > 1e999999", 14, "a number (digits with an optional decimal point)"),
        ("order_value > 5.", 14, "a number (digits with an optional decimal point)"),
        ("order_value > 5000usd", 14, "a number (digits with an optional decimal point)"),
        ("order_value > .5", 14, "an operand"),
        ("order_value = 5", 12, "'==' (a single '=' is not an operator)"),
        ("order_value => 5", 12, "'>=' (written >=, not =>)"),
        ("order_value =< 5", 12, "'<=' (written <=, not =<)"),
        ("order_value ! 5", 12, "'!='"),
        ("Order_Value > 5", 0, "a signal name (lowercase ASCII letters, digits and underscores)"),
        ("ordér > 5", 0, "a signal name (lowercase ASCII letters, digits and underscores)"),
        ("order_value + 5", 15, "a comparison operator"),
        ("order_value > 5 and 7", 21, "a comparison operator"),
        ("not 'yes'", 9, "a comparison operator"),
        ("order_value not 5", 16, "'in' after 'not'"),
        ("order_value in 5", 15, "a list, string or signal"),
        ('"a" + order_value > 1', 0, "a number or signal"),
        ("order_value > (currency == 'USD')", 14, "a number, string or signal"),
        ("-true", 1, "a number or signal"),
        ("[order_value] == ofac_regions", 1, "a literal (number, string, true or false)"),
        ("ofac_regions == [1, 2,]", 22, "a literal (number, string, true or false)"),
        ("ofac_regions == [1 2]", 19, "',' or ']'"),
        ('provider == "a\\n"', 14, "an escaped quote or backslash after '\\'"),
        ("order_value > +5", 14, "an operand"),
        ("order_value ** 2 > 5", 13, "an operand"),
    ],
)
def test_it_reports_errors_with_exact_positions(source, position, expected):
    error = parse_error(source)

    assert (error.position, error.expected) == (position, expected)
    assert str(error) == f"at column {position + 1}: expected {expected}, found {error.found}"


def test_it_says_what_it_found_in_error_messages():
    assert str(parse_error("order_value >> 5")) == "at column 14: expected an operand, found '>'"
    assert str(parse_error("order_value >")) == (
        "at column 14: expected an operand, found end of condition"
    )
    assert str(parse_error("order_value > $5")) == "at column 15: expected an operand, found '$'"


def test_it_names_an_unknown_signal_and_where_it_is():
    error = parse_error("order_value > 5 and shipping_country == 'CU'")

    assert error.position == 20
    assert str(error) == (
        "at column 21: expected a known signal, found unknown signal 'shipping_country'"
    )


def test_it_rejects_chained_comparisons_of_plain_signals():
    error = parse_error("a < b < c", known=ABC)

    assert (error.position, error.found) == (6, "'<'")


def test_it_limits_source_length():
    longest = "true" + " " * (MAX_SOURCE_LENGTH - 4)
    parse(longest, known_signals=KNOWN_SIGNALS)

    error = parse_error(longest + " ")

    assert error.position == MAX_SOURCE_LENGTH
    assert error.found == f"{MAX_SOURCE_LENGTH + 1} characters"


def test_it_limits_nesting_depth():
    deepest = "(" * MAX_NESTING + "order_value > 5" + ")" * MAX_NESTING
    assert parse(deepest, known_signals=KNOWN_SIGNALS).evaluate({"order_value": 6}).matched

    error = parse_error("(" + deepest + ")")

    assert (error.position, error.expected) == (MAX_NESTING, "at most 40 levels of nesting")


@pytest.mark.parametrize(
    ("prefix", "body"),
    [("not ", "true"), ("-", "1 > -2"), ("(", "true")],
)
def test_it_counts_prefix_operators_as_nesting(prefix, body):
    over = prefix * (MAX_NESTING + 1) + body

    error = parse_error(over)

    assert error.position == MAX_NESTING * len(prefix)
    assert error.expected == "at most 40 levels of nesting"


def test_it_evaluates_the_deepest_allowed_mixed_nesting():
    # Each level is "not (" or "-(": the deepest tree the parser allows.
    source = "not (" * (MAX_NESTING // 4) + "-(" * (MAX_NESTING // 4) + "order_value"
    source += ")" * (MAX_NESTING // 4) + " < 0" + ")" * (MAX_NESTING // 4)

    assert check(source, {"order_value": 1}).matched is False
    assert check(source, {"order_value": -1}).matched is True


def test_it_limits_number_length():
    longest = "9" * MAX_NUMBER_LENGTH
    assert matches(f"order_value < {longest}", {"order_value": 1})

    error = parse_error(f"order_value < {longest}9")

    assert (error.position, error.found) == (14, "a number of 41 characters")


def test_it_rejects_non_string_source():
    with pytest.raises(TypeError):
        parse(b"true", known_signals=KNOWN_SIGNALS)  # type: ignore[arg-type]


def test_it_raises_a_picklable_value_error():
    error = parse_error("order_value >")

    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own object)
    assert (copy.position, copy.expected, str(copy)) == (13, "an operand", str(error))


# ---- unknown values -----------------------------------------------------------------------


@pytest.mark.parametrize("signals", [{}, {"order_value": None}, {"order_value": float("nan")}])
@pytest.mark.parametrize(
    "source",
    [
        "order_value > 5000",
        "order_value <= 5000",
        "order_value == 5000",
        "order_value != 5000",
        "order_value in [5000, 1]",
        "order_value not in [5000, 1]",
        "order_value * 2 > 1",
        "-order_value < 0",
        "order_value",
    ],
)
def test_it_treats_comparisons_with_unknown_values_as_false_and_records_them(source, signals):
    evaluation = check(source, signals)

    assert evaluation.matched is False
    assert evaluation.unknown == {"order_value"}
    assert evaluation.values == {"order_value": signals.get("order_value")}


def test_it_resolves_unknown_before_not():
    # Documented: unknown is false at the comparison, so its negation is true.
    evaluation = check("not (order_value > 5)", {"order_value": None})

    assert evaluation.matched is True
    assert evaluation.unknown == {"order_value"}
    assert matches("not first_time_amex", {})
    assert not matches("order_value <= 5", {"order_value": None})


def test_it_treats_an_unknown_list_as_matching_nothing():
    assert not matches("ship_to_country in ofac_regions", {"ship_to_country": "CU"})
    assert not matches("ship_to_country not in ofac_regions", {"ship_to_country": "CU"})
    assert check("ship_to_country in ofac_regions", {"ship_to_country": "CU"}).unknown == {
        "ofac_regions"
    }


def test_it_still_matches_other_branches_when_one_signal_is_unknown():
    condition = (
        "order_value > 5000 and (customer_age_days < 30 or ship_to_country != bill_to_country)"
    )
    signals = {**RISKY_ORDER, "customer_age_days": None}

    evaluation = check(condition, signals)

    assert evaluation.matched is True  # CU != US
    assert evaluation.unknown == {"customer_age_days"}


# ---- arithmetic failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "signals"),
    [
        ("order_value / 0 > 1", {"order_value": 5}),
        ("order_value / 0 <= 1", {"order_value": 5}),
        ("order_value / customer_order_count > 100", {"order_value": 5, "customer_order_count": 0}),
        ("0 / 0 == 0", {}),
        ("order_value / 0 != 1", {"order_value": 5}),
        ("order_value * 10 > 1", {"order_value": Decimal("9E+999999")}),
        ("order_value - order_value == 0", {"order_value": float("inf")}),
        ("order_value + 1 > 0", {"order_value": "lots"}),
        ("order_value + 1 > 0", {"order_value": True}),
        ("order_value + 1 > 0", {"order_value": ["1"]}),
    ],
)
def test_it_treats_failed_arithmetic_as_false(source, signals):
    evaluation = check(source, signals)

    assert evaluation.matched is False
    assert evaluation.unknown == frozenset()


def test_it_negates_a_failed_comparison():
    assert matches("not (order_value / 0 > 1)", {"order_value": 5})


def test_it_ignores_the_callers_decimal_context():
    with decimal.localcontext() as context:
        context.prec = 3
        context.traps[decimal.Inexact] = True
        context.traps[decimal.DivisionByZero] = False

        assert matches("order_value / 3 > 2416.6", {"order_value": Decimal("7250")})
        assert matches("order_value + 0.001 > 7250", {"order_value": Decimal("7250")})
        assert not matches("order_value / 0 > 1", {"order_value": 1})


def test_it_keeps_large_literals_exact():
    big = "1234567890123456789012345678901234567890"

    assert matches(f"order_value == {big}", {"order_value": int(big)})
    assert matches(f"order_value == -{big}", {"order_value": -int(big)})


# ---- value types --------------------------------------------------------------------------


def test_it_compares_ints_floats_decimals_and_numeric_strings_as_numbers():
    assert matches("order_value == 7250", {"order_value": 7250})
    assert matches("order_value == 7250", {"order_value": 7250.0})
    assert matches("order_value == 7250", {"order_value": "7250.00"})
    assert matches("order_value > 5000", {"order_value": "7250.00"})
    assert matches("order_value + 1 == 7251", {"order_value": "7250"})
    assert matches("order_value > 1.5", {"order_value": 2})


def test_it_never_treats_booleans_as_numbers():
    assert not matches("order_value > 0", {"order_value": True})
    assert not matches("order_value == 1", {"order_value": True})
    assert matches("first_time_amex == true", {"first_time_amex": True})
    assert not matches("first_time_amex == 1", {"first_time_amex": True})


def test_it_requires_exactly_true_for_a_bare_signal():
    assert matches("first_time_amex", {"first_time_amex": True})
    for value in (1, "true", "yes", [True], Decimal(1), False, None):
        assert not matches("first_time_amex", {"first_time_amex": value}), value


def test_it_compares_strings_as_strings():
    assert matches("ship_to_country < 'DE'", {"ship_to_country": "CU"})
    assert matches("ship_to_country >= 'CU'", {"ship_to_country": "CU"})
    assert not matches("environment == '0100'", {"environment": "100"})
    assert matches("environment > '10'", {"environment": "9"})  # lexicographic


def test_it_never_orders_strings_against_numbers():
    for source in ("ship_to_country > 5", "ship_to_country < 5", "5 <= ship_to_country"):
        assert not matches(source, {"ship_to_country": "CU"})
    assert matches("ship_to_country != 5", {"ship_to_country": "CU"})


def test_it_compares_other_types_as_unequal_without_calling_them():
    class Hostile:
        def __eq__(self, other):
            raise AssertionError("never compared")

        def __lt__(self, other):
            raise AssertionError("never compared")

        __hash__ = object.__hash__

    signals = {"provider": Hostile(), "ofac_regions": [Hostile()], "order_value": {"a": 1}}

    assert not matches("provider == 'x'", signals)
    assert matches("provider != 'x'", signals)
    assert not matches("provider < 'x'", signals)
    assert not matches("'CU' in ofac_regions", signals)
    assert not matches("order_value > 1", signals)


# ---- lists and in -------------------------------------------------------------------------


def test_it_tests_membership_in_list_literals():
    assert matches("ship_to_country in ['CU', 'IR']", {"ship_to_country": "CU"})
    assert not matches("ship_to_country not in ['CU', 'IR']", {"ship_to_country": "CU"})
    assert matches("ship_to_country not in ['CU', 'IR']", {"ship_to_country": "US"})
    assert matches("customer_order_count in [0, 1, 2]", {"customer_order_count": 1})
    assert matches("customer_order_count in [-1, 0]", {"customer_order_count": -1})
    assert matches("customer_order_count in [1.0]", {"customer_order_count": "1"})
    assert matches("first_time_amex in [true]", {"first_time_amex": True})
    assert not matches("first_time_amex in [1]", {"first_time_amex": True})
    assert not matches("currency in []", {"currency": "USD"})
    assert matches("currency not in []", {"currency": "USD"})


@pytest.mark.parametrize(
    "regions", [["CU", "IR"], ("CU", "IR"), {"CU", "IR"}, frozenset({"CU", "IR"})]
)
def test_it_tests_membership_in_list_valued_signals(regions):
    signals = {"ofac_regions": regions}

    assert matches("ship_to_country in ofac_regions", {**signals, "ship_to_country": "IR"})
    assert matches("ship_to_country not in ofac_regions", {**signals, "ship_to_country": "US"})


def test_it_skips_odd_list_members():
    regions = [None, ["CU"], float("nan"), Decimal("sNaN"), "IR", {"x": 1}, 7]

    assert not matches(
        "ship_to_country in ofac_regions", {"ofac_regions": regions, "ship_to_country": "CU"}
    )
    assert matches(
        "ship_to_country in ofac_regions", {"ofac_regions": regions, "ship_to_country": "IR"}
    )


def test_it_never_compares_against_nan_list_members():
    # Comparing with a signalling NaN would raise; NaN members simply match nothing.
    for members in ([Decimal("sNaN")], [Decimal("NaN")], [float("nan")]):
        signals = {"ofac_regions": members, "order_value": 1}
        assert not matches("order_value in ofac_regions", signals)
        assert not matches("ofac_regions == [1]", signals)
        assert matches("order_value not in ofac_regions", signals)


def test_it_tests_substrings_with_in():
    assert matches("'amex' in payment_method", {"payment_method": "amex_corporate"})
    assert matches("payment_method in 'amex visa'", {"payment_method": "visa"})
    assert matches("'dev' not in environment", {"environment": "production"})


def test_it_treats_in_on_anything_but_a_list_or_string_as_false():
    signals = {"currency": "USD", "order_value": 7250, "payment_method": "amex"}

    for source in (
        "currency in order_value",
        "currency not in order_value",
        "order_value in payment_method",
        "order_value not in payment_method",
    ):
        assert not matches(source, signals), source


def test_it_compares_lists_item_by_item():
    assert matches("ofac_regions == ['CU', 'IR']", {"ofac_regions": ["CU", "IR"]})
    assert matches("ofac_regions == [1, 2]", {"ofac_regions": (Decimal(1), 2.0)})
    assert not matches("ofac_regions == ['CU']", {"ofac_regions": ["CU", "IR"]})
    assert not matches("ofac_regions == [true, 'x', -1]", {"ofac_regions": [True, "x", 1]})


# ---- property-based -----------------------------------------------------------------------

SOUP_TOKENS = [
    *ALL_SIGNALS[:5],
    "unknown_signal",
    "Order",
    "and",
    "or",
    "not",
    "in",
    "AND",
    "Not",
    "true",
    "FALSE",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "!",
    "+",
    "-",
    "*",
    "/",
    "(",
    ")",
    "[",
    "]",
    ",",
    "0",
    "5000",
    "2500.50",
    "1e5",
    "5.",
    '"USD"',
    "'o\\'x'",
    '"',
    "'",
    "\\",
    "$",
    ".",
    "\t",
    "\n",
    "é",
]
token_soups = st.tuples(
    st.lists(st.sampled_from(SOUP_TOKENS), max_size=30), st.sampled_from([" ", ""])
).map(lambda parts: parts[1].join(parts[0]))
deep_nests = st.tuples(
    st.integers(0, 2 * MAX_NESTING), st.sampled_from(["(", "not ", "-", "["])
).map(lambda parts: parts[1] * parts[0] + "1 > 0" + ")" * parts[0])


@settings(max_examples=300, deadline=None)
@given(source=st.one_of(st.text(), token_soups, deep_nests))
def test_it_raises_only_condition_errors_on_arbitrary_text(source):
    try:
        condition = parse(source, known_signals=KNOWN_SIGNALS)
    except ConditionError as error:
        assert 0 <= error.position <= len(source)
        assert str(error).startswith(f"at column {error.position + 1}: expected ")
    else:
        assert isinstance(condition.evaluate(RISKY_ORDER).matched, bool)
        assert isinstance(condition.evaluate({}).matched, bool)


def quote_string(text: str, quote: str) -> str:
    return quote + text.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


number_literals = st.tuples(st.integers(0, 10**9), st.one_of(st.none(), st.integers(0, 99))).map(
    lambda parts: f"{parts[0]}" if parts[1] is None else f"{parts[0]}.{parts[1]:02d}"
)
string_literals = st.tuples(st.text(max_size=8), st.sampled_from(["'", '"'])).map(
    lambda parts: quote_string(*parts)
)
list_literals = st.lists(
    st.one_of(
        number_literals,
        number_literals.map(lambda n: "-" + n),
        string_literals,
        st.sampled_from(["true", "False"]),
    ),
    max_size=4,
).map(lambda items: "[" + ", ".join(items) + "]")
signal_references = st.sampled_from(ALL_SIGNALS)


@cache
def numeric_expressions(depth: int) -> st.SearchStrategy[str]:
    leaves = st.one_of(number_literals, signal_references)
    if depth == 0:
        return leaves
    inner = numeric_expressions(depth - 1)
    return st.one_of(
        leaves,
        inner.map(lambda expression: "-" + expression),
        inner.map(lambda expression: f"({expression})"),
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(" ".join),
    )


@cache
def comparisons(depth: int) -> st.SearchStrategy[str]:
    numbers = numeric_expressions(depth)
    texts = st.one_of(string_literals, signal_references)
    containers = st.one_of(list_literals, string_literals, signal_references)
    return st.one_of(
        st.tuples(numbers, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), numbers),
        st.tuples(texts, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), texts),
        st.tuples(
            st.one_of(numbers, texts), st.sampled_from(["in", "not in", "NOT IN"]), containers
        ),
    ).map(" ".join)


@cache
def valid_conditions(depth: int) -> st.SearchStrategy[str]:
    leaves = st.one_of(
        st.sampled_from(["true", "false", "TRUE", "False"]), signal_references, comparisons(2)
    )
    if depth == 0:
        return leaves
    inner = valid_conditions(depth - 1)
    return st.one_of(
        leaves,
        inner.map(lambda condition: "not " + condition),
        inner.map(lambda condition: f"({condition})"),
        st.tuples(inner, st.sampled_from(["and", "or", "AND", "Or"]), inner).map(" ".join),
    )


signal_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # includes nan and +-inf
    st.decimals(),  # includes NaN, sNaN, +-Infinity and huge exponents
    st.text(max_size=6),
    st.sampled_from(["CU", "US", "5000", "-12.50", "order.created", "", "amex"]),
    st.lists(
        st.one_of(st.none(), st.integers(), st.floats(), st.decimals(), st.text(max_size=3)),
        max_size=4,
    ),
    st.frozensets(st.text(max_size=2), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.builds(object),
)
signal_mappings = st.dictionaries(signal_references, signal_values)


@settings(max_examples=300, deadline=None)
@given(source=valid_conditions(3), signals=signal_mappings)
def test_it_parses_generated_conditions_and_evaluates_them_without_raising(source, signals):
    condition = parse(source, known_signals=KNOWN_SIGNALS)

    evaluation = condition.evaluate(signals)

    assert isinstance(evaluation.matched, bool)
    assert set(evaluation.values) <= condition.signal_names
    assert evaluation.unknown <= set(evaluation.values)
    for name, value in evaluation.values.items():
        assert value is signals.get(name)


# Reference model: exact Fraction arithmetic with None for unknown. Operands have at most six
# significant digits and at most four of them meet in one expression, so every result fits in
# the evaluator's 34 digits and the two must agree exactly. Division is left out: a rounded
# quotient would legitimately differ from the exact one.
COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul}
reference_values = st.one_of(
    st.none(),
    st.integers(-1000, 1000),
    st.decimals(min_value=-1000, max_value=1000, places=2),
)
reference_signals = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(NUMERIC_SIGNALS, reference_values)
)


@st.composite
def reference_terms(draw, signals: dict, depth: int) -> tuple[str, Fraction | None]:
    if depth == 0 or draw(st.booleans()):
        if draw(st.booleans()):
            text = draw(number_literals.filter(lambda n: Decimal(n) <= 1000))
            return text, Fraction(Decimal(text))
        name = draw(st.sampled_from(NUMERIC_SIGNALS))
        value = signals.get(name)
        return name, None if value is None else Fraction(value)
    shape = draw(st.sampled_from(["neg", *ARITHMETIC]))
    left_text, left = draw(reference_terms(signals, depth - 1))
    if shape == "neg":
        return f"-({left_text})", None if left is None else -left
    right_text, right = draw(reference_terms(signals, depth - 1))
    value = None if left is None or right is None else ARITHMETIC[shape](left, right)
    return f"({left_text}) {shape} ({right_text})", value


@st.composite
def reference_conditions(draw, signals: dict, depth: int) -> tuple[str, bool]:
    if depth == 0 or draw(st.booleans()):
        left_text, left = draw(reference_terms(signals, 2))
        op = draw(st.sampled_from(sorted(COMPARE)))
        right_text, right = draw(reference_terms(signals, 2))
        # Unknown on either side: the comparison is false, whatever the operator.
        expected = left is not None and right is not None and COMPARE[op](left, right)
        return f"{left_text} {op} {right_text}", expected
    shape = draw(st.sampled_from(["not", "and", "or"]))
    left_text, left = draw(reference_conditions(signals, depth - 1))
    if shape == "not":
        return f"not ({left_text})", not left
    right_text, right = draw(reference_conditions(signals, depth - 1))
    expected = (left and right) if shape == "and" else (left or right)
    return f"({left_text}) {shape} ({right_text})", expected


@st.composite
def cases_with_reference(draw) -> tuple[str, dict, bool]:
    signals = draw(reference_signals)
    source, expected = draw(reference_conditions(signals, 2))
    return source, signals, expected


@settings(max_examples=300, deadline=None)
@given(case=cases_with_reference())
def test_it_agrees_with_a_reference_evaluation(case):
    source, signals, expected = case
    condition = parse(source, known_signals=KNOWN_SIGNALS)

    evaluation = condition.evaluate(signals)

    assert evaluation.matched is expected
    assert evaluation.unknown <= {
        name for name in condition.signal_names if signals.get(name) is None
    }


def test_it_returns_a_condition():
    condition = parse("order_value > 5", known_signals=KNOWN_SIGNALS)

    assert isinstance(condition, Condition)
    assert repr(condition) == "Condition('order_value > 5')"
