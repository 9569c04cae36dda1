"""How stored values are shown to people: JSON indented for reading, moments in one format."""

import json
from datetime import datetime

from django.utils import formats, timezone


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


def moment(value: datetime | None) -> str:
    """A moment as the console writes it everywhere: "2026-12-02 14:05:09 CET", to the second,
    in the time zone of whoever is looking (core.middleware.user_time_zone)."""
    if value is None:
        return "-"
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
