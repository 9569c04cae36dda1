"""Parsing of command-line options the operator commands share."""

from datetime import datetime

from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime


def parse_when_option(value: str | None, flag: str) -> datetime | None:
    """An ISO 8601 date and time given as `flag`, or a CommandError saying what is expected."""
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"{flag} must be an ISO 8601 date and time, got {value!r}")
    return parsed
