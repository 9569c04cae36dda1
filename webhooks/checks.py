"""System checks for configuration that would make hookdesk unsafe or broken."""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_encryption_keys(app_configs, **kwargs):
    keys = settings.HOOKDESK["ENCRYPTION_KEYS"]
    if not keys:
        return [
            Warning(
                "HOOKDESK_ENCRYPTION_KEYS is not set: endpoint secrets are encrypted with a key "
                "derived from SECRET_KEY, so rotating SECRET_KEY makes them unreadable.",
                hint="Set HOOKDESK_ENCRYPTION_KEYS to one or more Fernet keys.",
                id="hookdesk.W001",
            )
        ]
    return []


@register()
def check_encryption_key_format(app_configs, **kwargs):
    errors = []
    for position, key in enumerate(settings.HOOKDESK["ENCRYPTION_KEYS"]):
        try:
            Fernet(key)
        except ValueError:
            errors.append(
                Error(
                    f"HOOKDESK_ENCRYPTION_KEYS entry {position + 1} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes).",
                    id="hookdesk.E001",
                )
            )
    return errors


@register()
def check_queue_timeouts(app_configs, **kwargs):
    q = settings.Q_CLUSTER
    if "orm" in q and q.get("retry", 60) <= q.get("timeout", 0):
        return [
            Error(
                "Q_CLUSTER retry must exceed timeout with the ORM broker, or tasks run twice.",
                id="hookdesk.E002",
            )
        ]
    return []
