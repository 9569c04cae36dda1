"""Hold-rule conditions ("blocks"): a small, safe expression language.

A condition is a boolean expression over risk signals, written by operators in the console, e.g.::

    order_value > 5000 and (customer_age_days < 30 or ship_to_country != bill_to_country)

``parse()`` turns the text into a ``Condition`` (a validated syntax tree) or raises
``ConditionError`` saying where and what went wrong. ``Condition.evaluate()`` runs it against a
mapping of signal values and never raises. The text is never handed to ``eval``, ``exec``,
``compile`` or ``ast``: a hand-written tokenizer and recursive-descent parser build the tree and
a small interpreter walks it.

Grammar (EBNF, lowest precedence first)::

    condition      = or_expr ;
    or_expr        = and_expr , { "or" , and_expr } ;
    and_expr       = not_expr , { "and" , not_expr } ;
    not_expr       = "not" , not_expr | comparison ;
    comparison     = additive , [ comparison_op , additive ] ;      (* no chaining *)
    comparison_op  = "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" , "in" ;
    additive       = multiplicative , { ( "+" | "-" ) , multiplicative } ;
    multiplicative = unary , { ( "*" | "/" ) , unary } ;
    unary          = "-" , unary | atom ;
    atom           = number | string | "true" | "false" | signal | list
                   | "(" , or_expr , ")" ;
    list           = "[" , [ literal , { "," , literal } ] , "]" ;
    literal        = [ "-" ] , number | string | "true" | "false" ;
    number         = digit , { digit } , [ "." , digit , { digit } ] ;   (* <= 40 characters *)
    string         = '"' , { character | '\\"' | '\\\\' } , '"'
                   | "'" , { character | "\\'" | '\\\\' } , "'" ;
    signal         = ( "a".."z" | "_" ) , { "a".."z" | "0".."9" | "_" } ;

Lexical rules:

* Keywords (``and``, ``or``, ``not``, ``in``, ``true``, ``false``) are case-insensitive:
  ``AND``, ``True`` and ``Not In`` are accepted. Signal names are case-sensitive, lowercase ASCII,
  and can never be keywords.
* Numbers are plain decimals (``5000``, ``2500.50``), read exactly as ``decimal.Decimal``. There
  are no exponents, no leading ``.``, no trailing ``.``, and a number must end at a space,
  operator or bracket (``5000usd`` is an error). A leading ``-`` is the unary minus operator.
* In strings a backslash may only escape the string's own quote or a backslash.
* Whitespace is space, tab, carriage return and newline.

Static checks (made by ``parse`` so rule authors hear about mistakes when saving, not when a rule
silently never matches): a boolean position (the whole condition, operands of ``and``/``or``/
``not``) needs a comparison, ``true``/``false`` or a bare signal, so ``order_value + 5`` alone is an
error; operands of ``+ - * /`` and unary minus must be numbers or signals; operands of
``< <= > >=`` must be numbers, strings or signals; the right side of ``in``/``not in`` must be a
list, string or signal; list literals hold literals only; every signal must be in
``known_signals``. Limits: at most 2000 characters of source and at most 40 levels of nesting,
where parentheses, list brackets and each prefix ``not`` or ``-`` count as a level.

Evaluation semantics (``Condition.evaluate`` never raises, whatever the values):

* Numbers are ``Decimal``. Signal values that are ``int``, ``float`` or ``Decimal`` are numbers;
  ``bool`` is never a number. A string that looks like a plain decimal (``"5000"``,
  ``"-12.50"``) counts as a number when it meets a number in a comparison or arithmetic; two
  strings always compare as strings (so ``"02134" == "2134"`` is false).
* Arithmetic runs in a private decimal context (34 significant digits). Arithmetic on a
  non-number, division by zero, overflow or an invalid operation gives *unknown* rather than an
  exception.
* A signal whose value is ``None``, missing from the mapping, or NaN is *unknown*; it is listed
  in ``Evaluation.unknown``. Any comparison with an unknown side is **false** -- including
  ``!=`` and ``not in`` -- and so is any comparison whose arithmetic became unknown.
* Unknown is resolved to false *at the comparison*, before ``not`` sees it: with ``x`` unknown,
  ``x > 5`` is false and ``not (x > 5)`` is **true**. Write ``x <= 5`` rather than
  ``not (x > 5)`` when an unknown value must not match.
* ``==`` compares numbers numerically, strings exactly, booleans with booleans, and lists item by
  item; values of different types are not equal. ``!=`` is the negation of ``==`` on known
  values.
* ``< <= > >=`` compare numbers numerically and strings lexicographically; anything else (a
  string against a number, a boolean, a list) is false.
* ``x in y``: if ``y`` is a list (a list literal, or a list, tuple or set signal) it is true when
  some item equals ``x`` under ``==``; if ``y`` is a string and ``x`` a string it is a substring
  test. Anything else makes both ``in`` and ``not in`` false.
* A bare signal in a boolean position (``first_time_amex``) is true only if its value is exactly
  ``True``; an unknown one is false (and so ``not first_time_amex`` is then true).
* ``and``/``or`` short-circuit left to right, so ``Evaluation.values`` and ``.unknown`` only hold
  the signals that were actually read.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from enum import Enum
from typing import Any, NamedTuple, NoReturn

__all__ = [
    "MAX_NESTING",
    "MAX_NUMBER_LENGTH",
    "MAX_SOURCE_LENGTH",
    "Condition",
    "ConditionError",
    "Evaluation",
    "parse",
]

MAX_SOURCE_LENGTH = 2000
"""Longest accepted condition source, in characters."""

MAX_NESTING = 40
"""Deepest accepted nesting of parentheses, list brackets and prefix ``not``/``-``."""

MAX_NUMBER_LENGTH = 40
"""Longest accepted number literal, in characters."""


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ConditionError(ValueError):
    """A condition's source is invalid.

    ``position`` is the 0-based character offset of the problem in the source (``len(source)``
    when the problem is the end of the text), ``expected`` says what the parser expected there
    and ``found`` what it found instead. ``str(error)`` reads e.g.
    ``"at column 15: expected an operand, found ')'"``, where the column is 1-based
    (``position + 1``) and counts characters from the start of the whole source.
    """

    position: int
    expected: str
    found: str

    def __init__(self, position: int, expected: str, found: str) -> None:
        self.position = position
        self.expected = expected
        self.found = found
        super().__init__(f"at column {position + 1}: expected {expected}, found {found}")

    def __reduce__(self) -> tuple[type[ConditionError], tuple[int, str, str]]:
        # The default reduce would call __init__ with the message only.
        return (type(self), (self.position, self.expected, self.found))


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------

_WHITESPACE = frozenset(" \t\r\n")
_DIGITS = frozenset("0123456789")
_QUOTES = frozenset("\"'")
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
# Longest first, so "<=" wins over "<".
_SYMBOLS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]", ",")
_SIGNAL_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class _Token(NamedTuple):
    """One token. ``kind`` is "number", "string", "name", "end", "invalid", a lowercase keyword
    or the symbol itself ("==", "(", ...)."""

    kind: str
    text: str
    position: int
    value: Any = None
    # For "invalid" tokens with a lexical diagnosis: (expected, found).
    problem: tuple[str, str] | None = None


def _tokenize(source: str) -> list[_Token]:
    """Split source into tokens, ending with an "end" token.

    A lexical problem becomes an "invalid" token (and stops tokenizing) instead of an immediate
    error: the parser reaches it in order, so the reported error is always the leftmost one and
    a stray character is reported with what the parser expected at that point.
    """
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        if source[position] in _WHITESPACE:
            position += 1
            continue
        token = _scan_token(source, position)
        tokens.append(token)
        if token.kind == "invalid":
            break
        position += len(token.text)
    tokens.append(_Token("end", "", len(source)))
    return tokens


def _scan_token(source: str, position: int) -> _Token:
    char = source[position]
    if char in _DIGITS:
        return _scan_number(source, position)
    if char.isalpha() or char == "_":
        return _scan_word(source, position)
    if char in _QUOTES:
        return _scan_string(source, position)
    for symbol in _SYMBOLS:
        if source.startswith(symbol, position):
            return _Token(symbol, symbol, position)
    return _invalid_character(source, position)


def _scan_while(source: str, position: int, accept: Callable[[str], bool]) -> int:
    """Index of the first character at or after position that accept() rejects."""
    end = position
    while end < len(source) and accept(source[end]):
        end += 1
    return end


def _is_number_char(char: str) -> bool:
    # Deliberately wider than a valid number, so "1e999", "5.", "1.2.3" and "5000usd" are
    # reported whole instead of as a number followed by something puzzling.
    return char.isalnum() or char in "._"


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _scan_number(source: str, position: int) -> _Token:
    text = source[position : _scan_while(source, position, _is_number_char)]
    if len(text) > MAX_NUMBER_LENGTH:
        return _invalid(
            text,
            position,
            f"a number of at most {MAX_NUMBER_LENGTH} characters",
            f"a number of {len(text)} characters",
        )
    if not _NUMBER.fullmatch(text):
        return _invalid(
            text, position, "a number (digits with an optional decimal point)", _quote(text)
        )
    return _Token("number", text, position, Decimal(text))


def _scan_word(source: str, position: int) -> _Token:
    word = source[position : _scan_while(source, position, _is_word_char)]
    keyword = word.lower()
    if word.isascii() and keyword in _KEYWORDS:
        return _Token(keyword, word, position)
    if _SIGNAL_NAME.fullmatch(word):
        return _Token("name", word, position, word)
    return _invalid(
        word,
        position,
        "a signal name (lowercase ASCII letters, digits and underscores)",
        _quote(word),
    )


def _scan_string(source: str, position: int) -> _Token:
    quote = source[position]
    chars: list[str] = []
    index = position + 1
    while index < len(source):
        char = source[index]
        if char == quote:
            return _Token("string", source[position : index + 1], position, "".join(chars))
        if char == "\\":
            escaped = source[index + 1 : index + 2]
            if not escaped:
                break  # a backslash as the last character: the string is unterminated
            if escaped not in (quote, "\\"):
                return _invalid(
                    source[index : index + 2],
                    index,
                    "an escaped quote or backslash after '\\'",
                    _quote(escaped),
                )
            chars.append(escaped)
            index += 2
            continue
        chars.append(char)
        index += 1
    return _invalid(
        source[position:], position, f"{quote!r} to close the string", "end of condition"
    )


# Operators other languages spell the other way round, and the spelling meant.
_REVERSED_OPERATORS = {"=>": ">=", "=<": "<="}


def _invalid_character(source: str, position: int) -> _Token:
    char = source[position]
    pair = source[position : position + 2]
    if pair in _REVERSED_OPERATORS:
        meant = _REVERSED_OPERATORS[pair]
        return _invalid(pair, position, f"{meant!r} (written {meant}, not {pair})", _quote(pair))
    if char == "=":
        return _invalid(char, position, "'==' (a single '=' is not an operator)", _quote(char))
    if char == "!":
        return _invalid(char, position, "'!='", _quote(char))
    # No lexical diagnosis: the parser reports what it expected here, found this character.
    return _Token("invalid", char, position)


def _invalid(text: str, position: int, expected: str, found: str) -> _Token:
    return _Token("invalid", text, position, problem=(expected, found))


def _quote(text: str) -> str:
    """Quote source text for an error message, shortening long text."""
    if len(text) > 30:
        text = text[:27] + "..."
    return repr(text)


def _describe(token: _Token) -> str:
    return "end of condition" if token.kind == "end" else _quote(token.text)


# --------------------------------------------------------------------------------------------
# Evaluation helpers: coercion, comparison, arithmetic. None of them raise.
# --------------------------------------------------------------------------------------------


class _UnknownType:
    """The result of reading an unknown signal or of arithmetic that could not be done."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "unknown"


_UNKNOWN = _UnknownType()
_MISSING = object()

# 34 significant digits (IEEE decimal128) is plenty for money; huge exponents, division by zero
# and invalid operations trap, and the trap is turned into "unknown".
_ARITHMETIC_CONTEXT = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
    flags=[],
)
_ARITHMETIC: dict[str, Callable[[Context, Decimal, Decimal], Decimal]] = {
    "+": Context.add,
    "-": Context.subtract,
    "*": Context.multiply,
    "/": Context.divide,
}
_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_NUMERIC_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_SEQUENCES = (list, tuple)
_COLLECTIONS = (list, tuple, set, frozenset)


def _is_unknown(value: Any) -> bool:
    if value is None or value is _MISSING:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, Decimal) and value.is_nan()


def _is_number(value: Any) -> bool:
    """A genuine number: int, float or Decimal, but not bool (bool subclasses int)."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _as_decimal(value: Any) -> Decimal | None:
    """The value as a non-NaN Decimal, or None if it is not a number."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int | float):
            number = Decimal(value)  # exact, whatever the thread's decimal context says
        elif isinstance(value, str) and _NUMERIC_TEXT.fullmatch(value):
            number = Decimal(value)
        else:
            return None
    except (ArithmeticError, ValueError, TypeError):
        return None
    # NaN would make ordering comparisons raise (and never equals anything anyway).
    return None if number.is_nan() else number


def _equal(left: Any, right: Any, *, compare_sequences: bool = True) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) or _is_number(right):
        left_number, right_number = _as_decimal(left), _as_decimal(right)
        return left_number is not None and right_number is not None and left_number == right_number
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if compare_sequences and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        # One level only: nested (or self-containing) lists are never equal, never recursed into.
        return len(left) == len(right) and all(
            _equal(a, b, compare_sequences=False) for a, b in zip(left, right, strict=True)
        )
    # Unknown types (dicts, arbitrary objects, None inside lists) equal nothing, and their own
    # __eq__ is never called.
    return False


def _order(compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    if _is_number(left) or _is_number(right):
        left_number, right_number = _as_decimal(left), _as_decimal(right)
        if left_number is None or right_number is None:
            return False
        return compare(left_number, right_number)
    if isinstance(left, str) and isinstance(right, str):
        return compare(left, right)
    return False


def _membership(item: Any, container: Any) -> bool | None:
    """Whether item is in container, or None when the question makes no sense."""
    if isinstance(container, str):
        return item in container if isinstance(item, str) else None
    if isinstance(container, _COLLECTIONS):
        return any(_equal(item, member) for member in container)
    return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is _UNKNOWN or right is _UNKNOWN:
        return False
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op == "in":
        return _membership(left, right) is True
    if op == "not in":
        return _membership(left, right) is False
    return _order(_ORDERINGS[op], left, right)


class _Reader:
    """Per-evaluation state: reads (and remembers) signals, does arithmetic."""

    __slots__ = ("_signals", "context", "unknown", "values")

    def __init__(self, signals: Mapping[str, Any]) -> None:
        self._signals = signals
        self.values: dict[str, Any] = {}
        self.unknown: set[str] = set()
        # A private copy: flags are per evaluation and the caller's context is never consulted.
        self.context = _ARITHMETIC_CONTEXT.copy()

    def read(self, name: str) -> Any:
        if name not in self.values:
            raw = self._signals.get(name, _MISSING)
            if _is_unknown(raw):
                self.unknown.add(name)
            self.values[name] = None if raw is _MISSING else raw
        return _UNKNOWN if name in self.unknown else self.values[name]

    def arithmetic(self, op: str, left: Any, right: Any) -> Any:
        left_number, right_number = _as_decimal(left), _as_decimal(right)
        if left_number is None or right_number is None:
            return _UNKNOWN  # also covers _UNKNOWN operands
        try:
            return _ARITHMETIC[op](self.context, left_number, right_number)
        except ArithmeticError:  # DecimalException: the trapped conditions above
            return _UNKNOWN

    def negate(self, value: Any) -> Any:
        number = _as_decimal(value)
        return _UNKNOWN if number is None else number.copy_negate()


# --------------------------------------------------------------------------------------------
# Syntax tree. Every node evaluates in one Python frame, and the tree's depth is bounded by the
# nesting limit, so evaluation cannot hit the recursion limit.
# --------------------------------------------------------------------------------------------


class _Node:
    __slots__ = ()

    def evaluate(self, reader: _Reader) -> Any:
        """The node's value: a bool for boolean nodes, else a value or _UNKNOWN."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _Constant(_Node):
    value: Decimal | str | bool | tuple[Decimal | str | bool, ...]

    def evaluate(self, reader: _Reader) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class _SignalRef(_Node):
    name: str

    def evaluate(self, reader: _Reader) -> Any:
        return reader.read(self.name)


@dataclass(frozen=True, slots=True)
class _Negate(_Node):
    operand: _Node

    def evaluate(self, reader: _Reader) -> Any:
        return reader.negate(self.operand.evaluate(reader))


@dataclass(frozen=True, slots=True)
class _Arithmetic(_Node):
    """A left-associative chain like a + b - c, kept flat so long chains stay shallow."""

    first: _Node
    rest: tuple[tuple[str, _Node], ...]

    def evaluate(self, reader: _Reader) -> Any:
        value = self.first.evaluate(reader)
        for op, operand in self.rest:
            value = reader.arithmetic(op, value, operand.evaluate(reader))
        return value


@dataclass(frozen=True, slots=True)
class _Comparison(_Node):
    op: str
    left: _Node
    right: _Node

    def evaluate(self, reader: _Reader) -> bool:
        # Both sides are read even if the left is unknown, so the audit trail shows both.
        left = self.left.evaluate(reader)
        right = self.right.evaluate(reader)
        return _compare(self.op, left, right)


@dataclass(frozen=True, slots=True)
class _Not(_Node):
    operand: _Node

    def evaluate(self, reader: _Reader) -> bool:
        return self.operand.evaluate(reader) is not True


@dataclass(frozen=True, slots=True)
class _All(_Node):
    operands: tuple[_Node, ...]

    def evaluate(self, reader: _Reader) -> bool:
        # A plain loop rather than all(<generator>): one frame per node keeps deep trees shallow.
        for operand in self.operands:  # noqa: SIM110
            if operand.evaluate(reader) is not True:
                return False
        return True


@dataclass(frozen=True, slots=True)
class _AnyOf(_Node):
    operands: tuple[_Node, ...]

    def evaluate(self, reader: _Reader) -> bool:
        for operand in self.operands:  # noqa: SIM110 (see _All)
            if operand.evaluate(reader) is True:
                return True
        return False


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


class _Kind(Enum):
    """What an expression is known to produce at parse time (signals could be anything)."""

    BOOLEAN = "boolean"
    NUMBER = "number"
    STRING = "string"
    LIST = "list"
    ANY = "any"


_CONDITION_KINDS = frozenset({_Kind.BOOLEAN, _Kind.ANY})
_NUMERIC_KINDS = frozenset({_Kind.NUMBER, _Kind.ANY})
_ORDERABLE_KINDS = frozenset({_Kind.NUMBER, _Kind.STRING, _Kind.ANY})
_CONTAINER_KINDS = frozenset({_Kind.LIST, _Kind.STRING, _Kind.ANY})
_COMPARISON_SYMBOLS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})
_LIST_LITERAL_KINDS = frozenset({"number", "string", "true", "false"})


class _Parsed(NamedTuple):
    node: _Node
    kind: _Kind
    start: int  # offset of the expression's first character
    end: int  # offset just past its last character


class _Parser:
    """Recursive descent over the token list: one method per grammar rule."""

    def __init__(self, source: str, known_signals: frozenset[str]) -> None:
        self._source = source
        self._known_signals = known_signals
        self._tokens = _tokenize(source)
        self._index = 0
        self._depth = 0
        self._last_end = 0
        self.signal_names: set[str] = set()

    def parse_condition(self) -> _Node:
        if self._token.kind == "end":
            raise ConditionError(0, "a condition", "an empty condition")
        node = self._condition(self._parse_or())
        if self._token.kind != "end":
            self._unexpected("end of condition")
        return node

    # ---- token helpers --------------------------------------------------------------------

    @property
    def _token(self) -> _Token:
        return self._tokens[self._index]

    def _peek(self) -> _Token:
        return self._tokens[min(self._index + 1, len(self._tokens) - 1)]

    def _at(self, kind: str) -> bool:
        return self._token.kind == kind

    def _advance(self) -> _Token:
        token = self._token
        self._index += 1
        self._last_end = token.position + len(token.text)
        return token

    def _expect(self, kind: str, expected: str) -> None:
        if not self._at(kind):
            self._unexpected(expected)
        self._advance()

    def _unexpected(self, expected: str) -> NoReturn:
        token = self._token
        if token.problem is not None:
            # A lexical diagnosis (unterminated string, malformed number...) says more than
            # "expected an operand".
            raise ConditionError(token.position, *token.problem)
        raise ConditionError(token.position, expected, _describe(token))

    @contextmanager
    def _nested(self, token: _Token) -> Iterator[None]:
        if self._depth >= MAX_NESTING:
            raise ConditionError(
                token.position,
                f"at most {MAX_NESTING} levels of nesting",
                f"{_describe(token)} at level {MAX_NESTING + 1}",
            )
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    # ---- static checks --------------------------------------------------------------------

    def _condition(self, parsed: _Parsed) -> _Node:
        """Check parsed can stand in a boolean position; call right after parsing it."""
        if parsed.kind not in _CONDITION_KINDS:
            # e.g. "order_value + 5" alone: what is missing is the comparison that follows.
            self._unexpected("a comparison operator")
        return parsed.node

    def _require(self, parsed: _Parsed, kinds: frozenset[_Kind], expected: str) -> None:
        if parsed.kind not in kinds:
            found = _quote(self._source[parsed.start : parsed.end])
            raise ConditionError(parsed.start, expected, found)

    # ---- grammar rules --------------------------------------------------------------------

    def _parse_or(self) -> _Parsed:
        return self._parse_chain("or", self._parse_and, _AnyOf)

    def _parse_and(self) -> _Parsed:
        return self._parse_chain("and", self._parse_not, _All)

    def _parse_chain(
        self,
        keyword: str,
        parse_operand: Callable[[], _Parsed],
        combine: Callable[[tuple[_Node, ...]], _Node],
    ) -> _Parsed:
        first = parse_operand()
        if not self._at(keyword):
            return first
        operands = [self._condition(first)]
        while self._at(keyword):
            self._advance()
            operands.append(self._condition(parse_operand()))
        return _Parsed(combine(tuple(operands)), _Kind.BOOLEAN, first.start, self._last_end)

    def _parse_not(self) -> _Parsed:
        token = self._token
        if token.kind != "not":
            return self._parse_comparison()
        with self._nested(token):
            self._advance()
            operand = self._condition(self._parse_not())
        return _Parsed(_Not(operand), _Kind.BOOLEAN, token.position, self._last_end)

    def _parse_comparison(self) -> _Parsed:
        left = self._parse_additive()
        op = self._parse_comparison_operator()
        if op is None:
            return left
        if op in _ORDERINGS:
            self._require(left, _ORDERABLE_KINDS, "a number, string or signal")
        right = self._parse_additive()
        if op in _ORDERINGS:
            self._require(right, _ORDERABLE_KINDS, "a number, string or signal")
        elif op in ("in", "not in"):
            self._require(right, _CONTAINER_KINDS, "a list, string or signal")
        if self._at_comparison_operator():
            self._unexpected("'and' or 'or' (comparisons cannot be chained)")
        node = _Comparison(op, left.node, right.node)
        return _Parsed(node, _Kind.BOOLEAN, left.start, self._last_end)

    def _at_comparison_operator(self) -> bool:
        token = self._token
        return token.kind in _COMPARISON_SYMBOLS or (
            token.kind == "not" and self._peek().kind == "in"
        )

    def _parse_comparison_operator(self) -> str | None:
        token = self._token
        if token.kind in _COMPARISON_SYMBOLS:
            self._advance()
            return token.kind
        if token.kind == "not":
            # Right after an operand, "not" can only begin "not in".
            self._advance()
            self._expect("in", "'in' after 'not'")
            return "not in"
        return None

    def _parse_additive(self) -> _Parsed:
        return self._parse_arithmetic(("+", "-"), self._parse_multiplicative)

    def _parse_multiplicative(self) -> _Parsed:
        return self._parse_arithmetic(("*", "/"), self._parse_unary)

    def _parse_arithmetic(
        self, operators: tuple[str, ...], parse_operand: Callable[[], _Parsed]
    ) -> _Parsed:
        first = parse_operand()
        if self._token.kind not in operators:
            return first
        self._require(first, _NUMERIC_KINDS, "a number or signal")
        rest: list[tuple[str, _Node]] = []
        while self._token.kind in operators:
            op = self._advance().kind
            operand = parse_operand()
            self._require(operand, _NUMERIC_KINDS, "a number or signal")
            rest.append((op, operand.node))
        node = _Arithmetic(first.node, tuple(rest))
        return _Parsed(node, _Kind.NUMBER, first.start, self._last_end)

    def _parse_unary(self) -> _Parsed:
        token = self._token
        if token.kind != "-":
            return self._parse_atom()
        with self._nested(token):
            self._advance()
            operand = self._parse_unary()
        self._require(operand, _NUMERIC_KINDS, "a number or signal")
        node = operand.node
        if isinstance(node, _Constant) and isinstance(node.value, Decimal):
            negated: _Node = _Constant(node.value.copy_negate())  # "-5" is just a literal
        else:
            negated = _Negate(node)
        return _Parsed(negated, _Kind.NUMBER, token.position, self._last_end)

    def _parse_atom(self) -> _Parsed:
        token = self._token
        if token.kind == "number":
            return self._constant(token.value, _Kind.NUMBER)
        if token.kind == "string":
            return self._constant(token.value, _Kind.STRING)
        if token.kind in ("true", "false"):
            return self._constant(token.kind == "true", _Kind.BOOLEAN)
        if token.kind == "name":
            return self._parse_signal()
        if token.kind == "(":
            return self._parse_group()
        if token.kind == "[":
            return self._parse_list()
        self._unexpected("an operand")

    def _constant(self, value: Any, kind: _Kind) -> _Parsed:
        token = self._advance()
        return _Parsed(_Constant(value), kind, token.position, self._last_end)

    def _parse_signal(self) -> _Parsed:
        token = self._token
        name = token.value
        if name not in self._known_signals:
            raise ConditionError(token.position, "a known signal", f"unknown signal {name!r}")
        self._advance()
        self.signal_names.add(name)
        return _Parsed(_SignalRef(name), _Kind.ANY, token.position, self._last_end)

    def _parse_group(self) -> _Parsed:
        opening = self._token
        with self._nested(opening):
            self._advance()
            inner = self._parse_or()
            self._expect(")", "')'")
        return _Parsed(inner.node, inner.kind, opening.position, self._last_end)

    def _parse_list(self) -> _Parsed:
        opening = self._token
        items: list[Decimal | str | bool] = []
        with self._nested(opening):
            self._advance()
            if not self._at("]"):
                items.append(self._parse_list_item())
                while self._at(","):
                    self._advance()
                    items.append(self._parse_list_item())
            self._expect("]", "',' or ']'")
        return _Parsed(_Constant(tuple(items)), _Kind.LIST, opening.position, self._last_end)

    def _parse_list_item(self) -> Decimal | str | bool:
        token = self._token
        if token.kind == "-" and self._peek().kind == "number":
            self._advance()
            return self._advance().value.copy_negate()
        if token.kind not in _LIST_LITERAL_KINDS:
            self._unexpected("a literal (number, string, true or false)")
        self._advance()
        if token.kind in ("true", "false"):
            return token.kind == "true"
        return token.value


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """The outcome of evaluating a condition against one set of signal values.

    ``matched`` is whether the condition holds. ``values`` maps each signal the evaluation read
    to its value as given (``None`` for a missing one), for the audit trail. ``unknown`` names
    the signals that were read but unknown (``None``, missing or NaN); every comparison that
    touched one of them counted as false.
    """

    matched: bool
    values: dict[str, Any]
    unknown: frozenset[str]


class Condition:
    """A parsed, validated condition. Build one with ``parse()``.

    ``source`` is the text it was parsed from and ``signal_names`` the signals it references.
    """

    __slots__ = ("_root", "signal_names", "source")

    source: str
    signal_names: frozenset[str]

    def __init__(self, source: str, root: _Node, signal_names: frozenset[str]) -> None:
        self.source = source
        self.signal_names = signal_names
        self._root = root

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def evaluate(self, signals: Mapping[str, Any]) -> Evaluation:
        """Evaluate against signal values (name -> value). Never raises; see the module
        docstring for how unknown values, mixed types and arithmetic failures are treated."""
        reader = _Reader(signals)
        matched = self._root.evaluate(reader) is True
        return Evaluation(matched=matched, values=reader.values, unknown=frozenset(reader.unknown))


def parse(source: str, *, known_signals: Collection[str]) -> Condition:
    """Parse and validate a condition.

    Raises ``ConditionError`` for any invalid input: syntax errors, signal names not in
    ``known_signals`` (the message names the signal and its position), empty or whitespace-only
    input, source longer than ``MAX_SOURCE_LENGTH`` characters, nesting deeper than
    ``MAX_NESTING``, unterminated strings, bad characters and the static checks described in
    the module docstring. Raises ``TypeError`` if source is not a string.
    """
    if not isinstance(source, str):
        raise TypeError(f"condition source must be a str, not {type(source).__name__}")
    if len(source) > MAX_SOURCE_LENGTH:
        raise ConditionError(
            MAX_SOURCE_LENGTH,
            f"a condition of at most {MAX_SOURCE_LENGTH} characters",
            f"{len(source)} characters",
        )
    parser = _Parser(source, frozenset(known_signals))
    root = parser.parse_condition()
    return Condition(source, root, frozenset(parser.signal_names))
