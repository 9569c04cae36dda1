"""Reads of rules' tables that other layers ask for through an extension point."""

from collections.abc import Iterable

from rules.models import HeldOrder


def events_with_holds(event_ids: list[str]) -> Iterable[str]:
    """Of these events, those a hold was created by."""
    return HeldOrder.objects.filter(event_id__in=event_ids).values_list("event_id", flat=True)
