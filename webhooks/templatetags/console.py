"""Template filters for the console's pages."""

import json

from django import template

register = template.Library()


@register.filter
def plain_capped(value, cap):
    """A count that stopped at `cap` reads "more than cap", not a precise-looking figure."""
    try:
        if int(value) > int(cap):
            return f"more than {int(cap):,}"
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


@register.filter
def pretty_json(value) -> str:
    """JSON (or bytes holding JSON) indented for reading; anything else as text."""
    if isinstance(value, bytes | memoryview):
        text = bytes(value).decode("utf-8", "replace")
        try:
            value = json.loads(text)
        except ValueError:
            return text
    try:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    except TypeError:
        return str(value)
