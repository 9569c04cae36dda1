"""Writes on endpoints and their secrets: creation, rotation, expiry, state changes."""

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import crypto
from core.audit import audit_record
from core.errors import Invalid
from webhooks.models import AuditAction, Endpoint, EndpointSecret, EndpointState, Event, EventStatus
from webhooks.processing import events_enqueue
from webhooks.providers import get_scheme

logger = logging.getLogger(__name__)

GRACE_CHOICES = ("0", "1h", "24h", "7d")
DEFAULT_GRACE = "24h"
_DURATION = re.compile(r"^(\d{1,4})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_GRACE = timedelta(days=30)


class SecretError(Invalid):
    """A secret or grace window an operator gave cannot be used."""


def parse_grace(value: str) -> timedelta:
    """`0`, `1h`, `24h`, `7d` (any `<n>s|m|h|d` up to 30 days)."""
    value = value.strip()
    if value == "0":
        return timedelta(0)
    match = _DURATION.match(value)
    if not match:
        raise SecretError(f"grace must be one of {', '.join(GRACE_CHOICES)} (or <n>s|m|h|d)")
    grace = timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
    if grace > MAX_GRACE:
        raise SecretError("grace cannot exceed 30 days")
    return grace


def _validated_secret(endpoint: Endpoint, secret: str | None) -> str:
    scheme = get_scheme(endpoint.provider)
    if secret is None:
        return scheme.new_secret()
    secret = secret.strip()
    if len(secret) < 16:
        raise SecretError("a secret must be at least 16 characters")
    try:
        key = scheme.secret_key(secret)
    except ValueError:
        raise SecretError(f"not a valid secret for the {scheme.name} scheme") from None
    if len(key) < 16:
        raise SecretError("a secret must carry at least 16 bytes of key")
    return secret


def _store_secret(endpoint: Endpoint, secret: str) -> EndpointSecret:
    return EndpointSecret.objects.create(
        endpoint=endpoint,
        encrypted=crypto.encrypt(secret),
        fingerprint=crypto.fingerprint(secret),
    )


@transaction.atomic
def endpoint_create(
    *,
    slug: str,
    provider: str,
    environment: str = "production",
    name: str = "",
    secret: str | None = None,
    installation_key: str | None = None,
    actor=None,
) -> tuple[Endpoint, str]:
    """Create an endpoint with its first secret. Returns the endpoint and the secret in full:
    the only time the caller sees it."""
    endpoint = Endpoint(slug=slug, provider=provider, environment=environment, name=name)
    endpoint.full_clean()
    if installation_key:
        endpoint.installation_key_encrypted = crypto.encrypt(installation_key)
    endpoint.save()
    secret = _validated_secret(endpoint, secret)
    stored = _store_secret(endpoint, secret)
    audit_record(
        action=AuditAction.ENDPOINT_CHANGED,
        obj_type="endpoint",
        obj_id=slug,
        actor=actor,
        reason="created",
        after={"provider": provider, "environment": environment, "secret": stored.fingerprint},
    )
    logger.info("endpoint %s created (%s), secret %s", slug, provider, stored.fingerprint)
    return endpoint, secret


def secret_rotate(
    *,
    endpoint: Endpoint,
    grace: timedelta = timedelta(hours=24),
    secret: str | None = None,
    actor=None,
) -> tuple[EndpointSecret, str]:
    """Make a new primary secret; the current ones stay valid for `grace`.

    At most MAX_LIVE_OLD_SECRETS old secrets stay live: repeated rotations expire the oldest
    at once rather than leave an unbounded set of keys that verify deliveries."""
    secret = _validated_secret(endpoint, secret)
    now = timezone.now()
    with transaction.atomic():
        # Lock the endpoint so two concurrent rotations do not both keep their predecessor
        # as the only primary.
        Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        live = list(
            EndpointSecret.objects.filter(endpoint=endpoint)
            .exclude(expires_at__lte=now)
            .order_by("-created_at", "-id")
        )
        expires_at = now + grace
        keep = settings.HOOKDESK["MAX_LIVE_OLD_SECRETS"]
        for position, old in enumerate(live):
            old_expiry = expires_at if position < keep else now
            if old.expires_at is None or old.expires_at > old_expiry:
                old.expires_at = old_expiry
                old.save(update_fields=["expires_at"])
        stored = _store_secret(endpoint, secret)
        audit_record(
            action=AuditAction.SECRET_ROTATED,
            obj_type="endpoint",
            obj_id=endpoint.slug,
            actor=actor,
            reason=f"grace {grace}",
            before={"live": [old.fingerprint for old in live]},
            after={
                "primary": stored.fingerprint,
                "old_valid_until": expires_at.isoformat(),
            },
        )
    logger.info(
        "endpoint %s secret rotated: new %s, %d old secret(s) valid until %s",
        endpoint.slug,
        stored.fingerprint,
        min(len(live), keep),
        expires_at.isoformat(),
    )
    return stored, secret


def secret_expire(*, secret: EndpointSecret, actor=None) -> None:
    """Expire an old secret now. The primary secret cannot be expired: rotate instead."""
    if secret.is_primary:
        raise SecretError("the primary secret cannot be expired; rotate to replace it")
    now = timezone.now()
    with transaction.atomic():
        expired = EndpointSecret.objects.filter(pk=secret.pk, expires_at__gt=now).update(
            expires_at=now
        )
        if expired:
            audit_record(
                action=AuditAction.SECRET_EXPIRED,
                obj_type="endpoint",
                obj_id=secret.endpoint.slug,
                actor=actor,
                before={"secret": secret.fingerprint, "expires_at": secret.expires_at.isoformat()},
                after={"secret": secret.fingerprint, "expires_at": now.isoformat()},
            )
    logger.info("endpoint %s secret %s expired", secret.endpoint.slug, secret.fingerprint)


def secret_reveal(*, secret: EndpointSecret) -> str:
    """The secret in full: for signing test deliveries and the demo, never for display."""
    return crypto.decrypt(secret.encrypted)


ENDPOINT_EDITABLE = ("name", "environment", "state")


def endpoint_update(*, endpoint: Endpoint, actor=None, reason: str = "", **changes) -> int:
    """Change an endpoint's name, environment or state, audited with before and after.
    Resuming queues the events stored while it was paused; returns how many."""
    unknown = set(changes) - set(ENDPOINT_EDITABLE)
    if unknown:
        raise ValueError(f"an endpoint's {', '.join(sorted(unknown))} cannot be changed")
    if "state" in changes and changes["state"] not in EndpointState.values:
        raise ValueError(f"unknown state {changes['state']!r}")
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = {name: getattr(endpoint, name) for name in changes}
        changed = {name: value for name, value in changes.items() if before[name] != value}
        if not changed:
            return 0
        for name, value in changed.items():
            setattr(endpoint, name, value)
        endpoint.save(update_fields=[*changed, "updated_at"])
        audit_record(
            action=AuditAction.ENDPOINT_CHANGED,
            obj_type="endpoint",
            obj_id=endpoint.slug,
            actor=actor,
            reason=reason,
            before={name: before[name] for name in changed},
            after=changed,
        )
    logger.info("endpoint %s changed: %s", endpoint.slug, ", ".join(sorted(changed)))
    if changed.get("state") != EndpointState.ACTIVE:
        return 0
    waiting = Event.objects.filter(endpoint=endpoint, status=EventStatus.PENDING).values_list(
        "pk", flat=True
    )
    return events_enqueue(waiting.iterator(chunk_size=1000), trigger="resume")


def endpoint_set_state(*, endpoint: Endpoint, state: str, actor=None) -> int:
    """Change the endpoint's state (endpoint_update). Returns how many events resuming queued."""
    queued = endpoint_update(endpoint=endpoint, actor=actor, state=state)
    endpoint.refresh_from_db(fields=["state", "updated_at"])
    return queued
