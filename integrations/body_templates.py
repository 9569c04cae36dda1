"""Operator-written URL and body templates for custom ERPs.

Placeholders are `${name}` and name one value of the event; nothing else is evaluated (no
expressions, attributes or filters), so a template cannot run code or reach other data. In a
body each placeholder stands for a whole JSON value and is replaced by that value JSON-encoded;
in a URL it is replaced percent-encoded. `$$` is a literal dollar sign."""

import json
import re
from string import Template
from typing import Any
from urllib.parse import quote

from integrations.url_guard import UrlRefused, url_target


class TemplateError(ValueError):
    """A template that cannot be used; the message says where and why."""


class _Braced(Template):
    delimiter = "$"
    # Only ${name}: a bare $name next to other text is too easy to misread.
    pattern = r"""
    \$(?:
      (?P<escaped>\$) |
      \{(?P<braced>[a-z][a-z0-9_]{0,40})\} |
      (?P<named>(?!)) |
      (?P<invalid>)
    )
    """
    flags = re.VERBOSE


# The names a template may use, with a sample value for validation.
PLACEHOLDERS: dict[str, Any] = {
    "event_id": "evt_01J0000000000000000000000",
    "event_type": "order.held",
    "created_at": "2025-01-15T14:32:07Z",
    "order_id": "ord_abc123",
    "order_value": 5500,
    "currency": "USD",
    "customer_id": "cus_8F3K2M9Q",
    "hold_id": "hold_01j0000000000000000000000",
    "status": "held",
    "erp_status": "ON_HOLD",
    "block_id": "blk_high_risk",
    "reasons": ["order_value > 5000"],
    "payment_pre_authorisation": "voided",
    "payment_note": "Holding this order voids its payment pre-authorisation.",
}


def _line_col(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {col}"


def _check_names(text: str) -> None:
    for match in _Braced.pattern.finditer(text):
        if match["invalid"] is not None:
            raise TemplateError(
                f"at {_line_col(text, match.start())}: '$' must start ${{name}} or be doubled "
                "as $$ for a literal dollar sign"
            )
        name = match["braced"]
        if name is not None and name not in PLACEHOLDERS:
            raise TemplateError(
                f"at {_line_col(text, match.start())}: unknown placeholder ${{{name}}}; "
                f"available: {', '.join(sorted(PLACEHOLDERS))}"
            )


# Scheme and authority (user, host, port) as the HTTP client (httpx) splits a URL: everything
# before the path.
_URL_ORIGIN = re.compile(r"(?:[^:/?#]+:)?(?://[^/?#]*)?")


def _check_placement(text: str) -> None:
    """Refuse a placeholder in the URL's scheme, host or port: an order's values must never
    choose where hookdesk connects (an order id "127.0.0.1" would otherwise make it post to
    this machine). Percent-encoding keeps a value from adding a / or ?, so a placeholder in
    the path or query stays there."""
    origin_end = _URL_ORIGIN.match(text).end()
    for match in _Braced.pattern.finditer(text, 0, origin_end):
        if match["braced"] is not None:
            raise TemplateError(
                f"at {_line_col(text, match.start())}: a placeholder may stand only in the "
                "URL's path or query, never in its scheme, host or port"
            )


def body_render(text: str, values: dict[str, Any]) -> bytes:
    """The body for one event: placeholders replaced by JSON values; the result must be JSON."""
    _check_names(text)
    rendered = _Braced(text).substitute(
        {name: json.dumps(values.get(name), ensure_ascii=False) for name in PLACEHOLDERS}
    )
    try:
        json.loads(rendered)
    except ValueError as error:
        raise TemplateError(
            f"the body is not valid JSON once filled in ({error.msg} at "
            f"{_line_col(rendered, error.pos)}); a placeholder stands for a whole JSON value, "
            'so write "status": ${erp_status}, not "status": "${erp_status}"'
        ) from None
    return rendered.encode()


def url_render(text: str, values: dict[str, Any]) -> str:
    """The URL for one event: placeholders replaced percent-encoded (never adding a / or ?)."""
    _check_names(text)
    _check_placement(text)
    rendered = _Braced(text).substitute(
        {
            name: quote("" if values.get(name) is None else str(values.get(name)), safe="")
            for name in PLACEHOLDERS
        }
    )
    try:
        url_target(rendered)
    except UrlRefused as error:
        raise TemplateError(str(error)) from None
    return rendered


def body_template_validate(text: str) -> str:
    body_render(text, PLACEHOLDERS)
    return text


def url_template_validate(text: str) -> str:
    url_render(text, PLACEHOLDERS)
    return text


def url_template_origin(text: str) -> str:
    """The URL with its placeholders left out: its scheme, host and port are those of every
    URL the template renders, and what the URL guard checks when it is saved."""
    _check_names(text)
    _check_placement(text)
    return _Braced(text).substitute(dict.fromkeys(PLACEHOLDERS, ""))
