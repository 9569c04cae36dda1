"""The audit trail's vocabulary. Each app declares the actions that are its own, as a TextChoices
next to its models, and registers them here; the audit trail's `action` column takes its
choices from the union, so the kernel never lists another app's actions."""

from django.db import models

_LABELS: dict[str, str] = {}


def audit_actions_register(actions: type[models.TextChoices]) -> type[models.TextChoices]:
    """Add an app's actions to the vocabulary; usable as a class decorator."""
    for value, label in actions.choices:
        known = _LABELS.get(value)
        if known is not None and known != label:
            raise ValueError(f"audit action {value!r} is registered twice with different labels")
        _LABELS[value] = label
    return actions


def audit_action_choices() -> list[tuple[str, str]]:
    return sorted(_LABELS.items())


def audit_action_label(value: str) -> str:
    return _LABELS.get(value, value)
