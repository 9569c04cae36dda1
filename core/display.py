"""How stored values are shown to people: JSON indented for reading."""

import json


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
