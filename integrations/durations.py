"""ISO-8601 durations (`PT30S`, `PT1M30S`, `P1DT2H`, `PT0.5S`, `P2W`) as the Automation API's
`connectionTimeout` writes them.

Years and months are refused: their length depends on a calendar date, which a timeout has not.
"""

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation


class DurationError(ValueError):
    """Text that is not an ISO-8601 duration; the message says what is wrong."""


_NUM = r"\d+(?:[.,]\d+)?"
_PATTERN = re.compile(
    rf"^P(?:(?P<weeks>{_NUM})W"
    rf"|(?:(?P<years>{_NUM})Y)?(?:(?P<months>{_NUM})M)?(?:(?P<days>{_NUM})D)?"
    rf"(?:T(?:(?P<hours>{_NUM})H)?(?:(?P<minutes>{_NUM})M)?(?:(?P<seconds>{_NUM})S)?)?)$"
)
_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
_ORDER = ("weeks", "years", "months", "days", "hours", "minutes", "seconds")
MAX_LENGTH = 64


def duration_parse(text: str) -> timedelta:
    """The timedelta an ISO-8601 duration stands for, or DurationError."""
    if not isinstance(text, str):
        raise DurationError("a duration must be a string such as PT30S")
    value = text.strip().upper()
    if len(value) > MAX_LENGTH:
        raise DurationError(f"a duration is at most {MAX_LENGTH} characters")
    match = _PATTERN.match(value) if value.isascii() else None
    if not match:
        raise DurationError(
            f"{text!r} is not an ISO-8601 duration (examples: PT30S, PT1M30S, PT0.5S, P1DT2H)"
        )
    parts = {name: match[name] for name in _ORDER if match[name] is not None}
    if not parts:
        raise DurationError(f"{text!r} has no components: say e.g. PT30S")
    if value.endswith("T"):
        raise DurationError(f"{text!r} has a T with no hours, minutes or seconds after it")
    if "years" in parts or "months" in parts:
        raise DurationError("years and months have no fixed length; use days, hours, minutes")
    # Only the last (smallest) component may carry a fraction, as ISO-8601 says.
    for name in list(parts)[:-1]:
        if "." in parts[name] or "," in parts[name]:
            raise DurationError("only the smallest component of a duration may have a fraction")
    total = Decimal(0)
    for name, number in parts.items():
        try:
            total += Decimal(number.replace(",", ".")) * _SECONDS[name]
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise DurationError(f"{number!r} is not a number") from None
    # Microseconds are timedelta's resolution; anything finer is rounded.
    micro = int((total * 1_000_000).to_integral_value())
    if micro > timedelta.max // timedelta(microseconds=1):
        raise DurationError(f"{text!r} is too long a duration")
    return timedelta(microseconds=micro)


def duration_format(value: timedelta) -> str:
    """The canonical ISO-8601 text of a non-negative timedelta (days, hours, minutes, seconds)."""
    if value < timedelta(0):
        raise ValueError("negative durations have no ISO-8601 form here")
    micro = value // timedelta(microseconds=1)
    days, rest = divmod(micro, 86_400_000_000)
    hours, rest = divmod(rest, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, micros = divmod(rest, 1_000_000)
    text = "P" + (f"{days}D" if days else "")
    time_part = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or micros:
        time_part += f"{seconds}.{micros:06d}".rstrip("0").rstrip(".") + "S"
    if time_part:
        text += "T" + time_part
    return text if text != "P" else "PT0S"
