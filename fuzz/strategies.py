"""Hypothesis strategies shared by the fuzz targets and the property tests.

Two kinds: random inputs (any text, any bytes) and structure-aware ones that start from a valid
input (a provider's sample envelope, a correct signature header, a grammatical condition) and
break one part of it, so the fuzzer spends its time near the edges of what is accepted."""

import json
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
PROVIDERS = ("autranex", "procureiq", "automation", "standard")


def sample_bodies() -> dict[str, tuple[bytes, ...]]:
    """Every provider's fixture bodies, taken from the seeds."""
    return {
        provider: tuple(path.read_bytes() for path in sorted((FIXTURES / provider).glob("*.json")))
        for provider in PROVIDERS
    }


# --- text and header values ----------------------------------------------------------------

# Unicode as a WSGI server hands it over (UTF-8 bytes decoded as latin-1), raw unicode text
# (control characters included), near-miss syntax, and values a few KB long.
wsgi_text = st.text(max_size=120).map(lambda text: text.encode().decode("latin-1"))
long_text = st.builds(
    lambda chunk, n: (chunk * n)[:5000],
    st.sampled_from(["t=1,", "v1=", "sha256=", "v1,", ",", "=", " ", "é", "\u2028"]),
    st.integers(100, 2500),
)
hex_like = st.text(alphabet="0123456789abcdefABCDEF g", min_size=60, max_size=70)
fragments = st.lists(
    st.one_of(
        st.builds("{}={}".format, st.sampled_from(["t", "v1", "v0", "sha256", " t"]), hex_like),
        st.builds("{}={}".format, st.sampled_from(["t", "v1"]), st.integers().map(str)),
        st.builds("{},{}".format, st.sampled_from(["v1", "v2", ""]), st.text(max_size=50)),
        st.text(max_size=20),
    ),
    max_size=8,
).map(lambda parts: ",".join(parts) if len(parts) % 2 else " ".join(parts))
header_values = st.one_of(st.text(max_size=200), wsgi_text, fragments, hex_like, long_text)

# What an HTTP header can carry once it has crossed a WSGI server: latin-1, no line breaks.
wire_header_values = header_values.map(
    lambda value: value.encode("latin-1", "replace").decode("latin-1").replace("\r", " ")
).map(lambda value: value.replace("\n", " "))

SIGNATURE_HEADERS = {
    "autranex": ("X-Autranex-Signature", "X-Retry-Count"),
    "procureiq": (
        "X-ProcureIQ-Signature",
        "X-ProcureIQ-Event",
        "X-ProcureIQ-Delivery",
        "X-ProcureIQ-Timestamp",
    ),
    "automation": ("X-Signature",),
    "standard": ("webhook-id", "webhook-timestamp", "webhook-signature"),
}
COMMON_HEADERS = ("User-Agent", "Content-Type")


@cache
def header_sets(provider: str, values: st.SearchStrategy[str] = header_values):
    """Any subset of a provider's headers (and the common ones), with any values."""
    names = SIGNATURE_HEADERS[provider] + COMMON_HEADERS
    return st.fixed_dictionaries({}, optional=dict.fromkeys(names, values))


# Small edits to a valid string: the shapes of damage a proxy, a buggy sender or an attacker
# produce. The result may occasionally equal the input (e.g. upper-casing digits).
_EDIT_CHARS = st.one_of(
    st.sampled_from(list("0aAfFgG=,.; \t-_+/\x00\x7f\u00e9\u2028\ufeff")),
    st.characters(codec="utf-8"),
)


def mutate(draw, text: str) -> str:
    """One small edit to `text`, drawn with `draw` (call it from inside a composite)."""
    if not text:
        return draw(st.text(max_size=5))
    position = draw(st.integers(0, len(text) - 1))
    edit = draw(
        st.sampled_from(
            ["replace", "delete", "insert", "truncate", "duplicate", "swapcase", "pad", "repeat"]
        )
    )
    if edit == "replace":
        return text[:position] + draw(_EDIT_CHARS) + text[position + 1 :]
    if edit == "delete":
        return text[:position] + text[position + 1 :]
    if edit == "insert":
        return text[:position] + draw(_EDIT_CHARS) + text[position:]
    if edit == "truncate":
        return text[:position]
    if edit == "duplicate":
        return text[:position] + text[position:] + text[position:]
    if edit == "swapcase":
        return text.swapcase()
    if edit == "pad":
        return draw(st.sampled_from(["", " ", "\t"])) + text + draw(st.sampled_from(["", " ", ","]))
    return ",".join([text] * draw(st.integers(2, 12)))


@st.composite
def mutated(draw, base: st.SearchStrategy[str]) -> str:
    """Values of `base`, each with one small edit."""
    return mutate(draw, draw(base))


# --- JSON -----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
envelopes = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        ("id", "type", "event_id", "event_type", "orderId", "eventType", "data"),
        st.text(max_size=300) | json_values,
    ),
)

# Raw JSON text json.dumps never writes but a sender can: non-finite numbers, numbers past
# every float and past Python's int-to-str limit, escapes for lone surrogates and NUL, deep
# nesting (past the recursion limit too).
RAW_JSON = (
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1E400",
    "-0",
    "0.1e-400",
    "1" * 4300,
    "1e30",
    "100000000000000",
    "99999999999999.99999",
    "-99999999999999.9999",
    "1" * 4301,
    "9" * 30 + "." + "9" * 30,
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"a\\u0000b"',
    '"\\u0000"',
    '" "',
    '"' + "x" * 300 + '"',
    '"\u202e\u0645\U0001f600"',
    "[" * 50 + "]" * 50,
    "[" * 3000 + "]" * 3000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    '{"country": "CU"}',
    '{"country": 7}',
    "[1, 2, 3]",
    "{}",
    "true",
    "null",
    '""',
)
special_json = st.one_of(st.sampled_from(RAW_JSON), json_values.map(json.dumps))
_PLACEHOLDER = "\u2603fuzz-placeholder\u2603"


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into nested objects (lists are left whole)."""
    paths = []
    if isinstance(value, dict):
        for key, item in value.items():
            paths.append((*prefix, key))
            paths.extend(_paths(item, (*prefix, key)))
    return paths


def _set(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = dict(document)
    copy[path[0]] = _set(copy[path[0]], path[1:], value)
    return copy


def _delete(document: dict, path: tuple) -> dict:
    copy = dict(document)
    if len(path) == 1:
        copy.pop(path[0], None)
    else:
        copy[path[0]] = _delete(copy[path[0]], path[1:])
    return copy


def mutate_json(draw, body: bytes) -> bytes:
    """A valid JSON document with one field removed, retyped or replaced by raw special JSON,
    or a field added; occasionally the whole body cut short."""
    document = json.loads(body)
    paths = _paths(document)
    edit = draw(
        st.sampled_from(["retype", "raw", "raw", "raw", "delete", "add", "truncate", "wrap"])
    )
    if edit == "truncate":
        return body[: draw(st.integers(0, max(len(body) - 1, 0)))]
    if edit == "wrap":
        opening, closing = draw(st.sampled_from([(b"[", b"]"), (b'{"data":', b"}")]))
        return opening + body + closing
    if edit == "add" or not paths:
        key = draw(st.text(max_size=10) | st.sampled_from([path[-1] for path in paths] or ["id"]))
        if isinstance(document, dict):
            document = {**document, key: _PLACEHOLDER}
        raw = draw(special_json)
    else:
        path = draw(st.sampled_from(paths))
        if edit == "delete":
            return json.dumps(_delete(document, path)).encode()
        document = _set(document, path, _PLACEHOLDER)
        raw = draw(special_json) if edit == "raw" else json.dumps(draw(json_values))
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    return (
        text.replace(json.dumps(_PLACEHOLDER, ensure_ascii=False), raw)
        .replace(json.dumps(_PLACEHOLDER), raw)
        .encode("utf-8", "surrogatepass")
    )


@st.composite
def mutated_json(draw, base: st.SearchStrategy[bytes]) -> bytes:
    """Documents of `base`, each with one field broken."""
    return mutate_json(draw, draw(base))


@cache
def bodies(samples: tuple[bytes, ...], *, max_size: int = 2048) -> st.SearchStrategy[bytes]:
    """Delivery bodies: random bytes, the seeds' samples, mutated samples, random envelopes."""
    return st.one_of(
        st.binary(max_size=max_size),
        st.sampled_from(samples),
        mutated_json(st.sampled_from(samples)),
        envelopes.map(lambda value: json.dumps(value).encode()),
        json_values.map(lambda value: json.dumps(value).encode()),
    )


# --- the condition language ---------------------------------------------------------------


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


class ConditionGrammar:
    """Strategies for conditions over a given set of signal names: token soups for the parser's
    error paths, grammatical conditions, and signal values of every type for evaluation."""

    def __init__(self, signal_names):
        self.signals = tuple(sorted(signal_names))
        self.signal_references = st.sampled_from(self.signals)
        self.soup_tokens = [
            *self.signals[:5],
            *["unknown_signal", "Order", "and", "or", "not", "in", "AND", "Not", "true", "FALSE"],
            *["==", "!=", "<", "<=", ">", ">=", "=", "!", "+", "-", "*", "/"],
            *["(", ")", "[", "]", ","],
            *["0", "5000", "2500.50", "1e5", "5.", '"USD"', "'o\\'x'", '"', "'", "\\", "$", "."],
            *["\t", "\n", "é"],
        ]
        self.token_soups = st.tuples(
            st.lists(st.sampled_from(self.soup_tokens), max_size=30), st.sampled_from([" ", ""])
        ).map(lambda parts: parts[1].join(parts[0]))
        self.signal_mappings = st.dictionaries(self.signal_references, signal_values)

    def deep_nests(self, max_nesting: int) -> st.SearchStrategy[str]:
        return st.tuples(
            st.integers(0, 2 * max_nesting), st.sampled_from(["(", "not ", "-", "["])
        ).map(lambda parts: parts[1] * parts[0] + "1 > 0" + ")" * parts[0])

    @cache  # noqa: B019 - a handful of grammars live as long as the process anyway
    def numeric_expressions(self, depth: int) -> st.SearchStrategy[str]:
        leaves = st.one_of(number_literals, self.signal_references)
        if depth == 0:
            return leaves
        inner = self.numeric_expressions(depth - 1)
        return st.one_of(
            leaves,
            inner.map(lambda expression: "-" + expression),
            inner.map(lambda expression: f"({expression})"),
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(" ".join),
        )

    @cache  # noqa: B019
    def comparisons(self, depth: int) -> st.SearchStrategy[str]:
        numbers = self.numeric_expressions(depth)
        texts = st.one_of(string_literals, self.signal_references)
        containers = st.one_of(list_literals, string_literals, self.signal_references)
        orderings = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
        return st.one_of(
            st.tuples(numbers, orderings, numbers),
            st.tuples(texts, orderings, texts),
            st.tuples(
                st.one_of(numbers, texts), st.sampled_from(["in", "not in", "NOT IN"]), containers
            ),
        ).map(" ".join)

    @cache  # noqa: B019
    def valid_conditions(self, depth: int) -> st.SearchStrategy[str]:
        leaves = st.one_of(
            st.sampled_from(["true", "false", "TRUE", "False"]),
            self.signal_references,
            self.comparisons(2),
        )
        if depth == 0:
            return leaves
        inner = self.valid_conditions(depth - 1)
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
    st.sampled_from(["CU", "US", "5000", "-12.50", "order.created", "", "amex", "1" * 5000]),
    st.lists(
        st.one_of(st.none(), st.integers(), st.floats(), st.decimals(), st.text(max_size=3)),
        max_size=4,
    ),
    st.frozensets(st.text(max_size=2), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.builds(object),
)


# --- ISO-8601 durations --------------------------------------------------------------------

_NUMBER_TEXT = st.one_of(
    st.integers(0, 10**6).map(str),
    st.tuples(st.integers(0, 10**4), st.integers(0, 10**6), st.sampled_from(".,")).map(
        lambda parts: f"{parts[0]}{parts[2]}{parts[1]}"
    ),
    st.sampled_from(["0", "00", "9" * 20, "9" * 60, "1" + "0" * 30, "0.0000001", "0,5"]),
)


@st.composite
def duration_texts(draw) -> str:
    """Duration-shaped text: designators in (mostly) the right order, any numbers."""
    if draw(st.booleans()):
        return f"P{draw(_NUMBER_TEXT)}W"
    date = "".join(
        f"{draw(_NUMBER_TEXT)}{unit}"
        for unit in "YMD"
        if draw(st.integers(0, 3)) == 0 or (unit == "D" and draw(st.booleans()))
    )
    time = "".join(f"{draw(_NUMBER_TEXT)}{unit}" for unit in "HMS" if draw(st.booleans()))
    return "P" + date + ("T" + time if time or draw(st.integers(0, 5)) == 0 else "")


durations = st.one_of(
    st.text(max_size=70),
    st.text(alphabet="PTWYMDHS0123456789.,- +", max_size=30),
    duration_texts(),
    mutated(duration_texts()),
    duration_texts().map(str.lower),
    st.sampled_from(["PT30S", "P", "PT", "P1DT", "PT0S", "-PT1S", "PT1.5M30S", "P1Y", "P1M"]),
)
