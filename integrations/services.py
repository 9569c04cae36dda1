"""Writes on destinations (create, change, rotate the signing secret, delete) and the operator's
actions on outbound deliveries (retry, cancel). Every change is audited in its own transaction."""

import copy
import logging
from numbers import Real
from typing import Any

from django.db import transaction
from django.utils import timezone

from core import crypto
from core.audit import audit_record
from core.errors import Conflict, Invalid
from integrations.adapters import ADAPTERS, get_adapter
from integrations.conf import conf
from integrations.crypto_fields import encrypt_or_empty
from integrations.durations import DurationError, duration_parse
from integrations.models import (
    DEFAULT_DISABLE_AFTER_SECONDS,
    OUTBOUND_EVENT_TYPES,
    AuditAction,
    DeliveryStatus,
    Destination,
    DestinationScope,
    OutboundDelivery,
)
from integrations.outbound import deliveries_enqueue, destination_resume, destination_timeout
from integrations.tls import TlsConfigError, certificates_validate, client_key_validate
from integrations.url_guard import UrlRefused, url_check
from webhooks.providers import SCHEMES, get_scheme

logger = logging.getLogger(__name__)

FIELDS = (
    "name",
    "adapter",
    "url",
    "signature_scheme",
    "event_types",
    "block_id",
    "connection_timeout",
    "retry_schedule",
    "status_mapping",
    "body_template",
    "scope",
    "active",
    "rate_limit",
    "max_in_flight",
    "disable_after_seconds",
)
TLS_FIELDS = ("verify", "trust_all", "ca_bundle", "client_cert", "client_key",
              "client_key_password")  # fmt: skip
MAX_SCHEDULE_ENTRIES = 20
MAX_SCHEDULE_SECONDS = 7 * 86400
UNSET = object()


class DestinationError(Invalid):
    """Input that cannot configure a destination; `field` names the input at fault."""


class DeliveryConflict(Conflict):
    """The delivery is not in a state the action applies to."""


# --- Validation ---------------------------------------------------------------------------


def connection_timeout_validate(value: Any) -> str:
    try:
        timeout = duration_parse(value)
    except DurationError as error:
        raise DestinationError(str(error), field="connection_timeout") from None
    maximum = conf()["MAX_CONNECTION_TIMEOUT_SECONDS"]
    if timeout.total_seconds() <= 0:
        raise DestinationError("the connection timeout must be more than zero",
                               field="connection_timeout")  # fmt: skip
    if timeout.total_seconds() > maximum:
        raise DestinationError(
            f"the connection timeout is at most PT{maximum}S: a slower receiver would hold a "
            "worker that other destinations need",
            field="connection_timeout",
        )
    return value.strip().upper()


def retry_schedule_validate(value: Any) -> list[float] | None:
    if value is None or value == []:
        return None
    if not isinstance(value, list | tuple) or len(value) > MAX_SCHEDULE_ENTRIES:
        raise DestinationError(
            f"retry_schedule is a list of at most {MAX_SCHEDULE_ENTRIES} delays in seconds",
            field="retry_schedule",
        )
    schedule = []
    for item in value:
        if (
            isinstance(item, bool)
            or not isinstance(item, Real)
            or not 0 <= item <= MAX_SCHEDULE_SECONDS
        ):
            raise DestinationError(
                f"each retry delay is a number of seconds from 0 to {MAX_SCHEDULE_SECONDS}",
                field="retry_schedule",
            )
        schedule.append(int(item) if float(item).is_integer() else float(item))
    return schedule


def _event_types_validate(value: Any) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) for item in value)
        or set(value) - set(OUTBOUND_EVENT_TYPES)
    ):
        raise DestinationError(
            f"event_types is a non-empty list of {', '.join(OUTBOUND_EVENT_TYPES)}",
            field="event_types",
        )
    return [event_type for event_type in OUTBOUND_EVENT_TYPES if event_type in value]


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    clean = dict(values)
    if "name" in clean:
        clean["name"] = str(clean["name"] or "").strip()
        if not clean["name"] or len(clean["name"]) > 200:
            raise DestinationError("a name of 1 to 200 characters is required", field="name")
    if "adapter" in clean and clean["adapter"] not in ADAPTERS:
        raise DestinationError(f"adapter must be one of {', '.join(ADAPTERS)}", field="adapter")
    if "signature_scheme" in clean and clean["signature_scheme"] not in SCHEMES:
        raise DestinationError(
            f"signature_scheme must be one of {', '.join(SCHEMES)}",
            field="signature_scheme",
        )
    if "scope" in clean and clean["scope"] not in DestinationScope.values:
        raise DestinationError(f"scope must be one of {', '.join(DestinationScope.values)}",
                               field="scope")  # fmt: skip
    if "url" in clean:
        clean["url"] = str(clean["url"] or "").strip()
        if len(clean["url"]) > 2000:
            raise DestinationError("the URL is at most 2000 characters", field="url")
    if "event_types" in clean:
        clean["event_types"] = _event_types_validate(clean["event_types"])
    if "connection_timeout" in clean:
        clean["connection_timeout"] = connection_timeout_validate(clean["connection_timeout"])
    if "retry_schedule" in clean:
        clean["retry_schedule"] = retry_schedule_validate(clean["retry_schedule"])
    if "status_mapping" in clean:
        if clean["status_mapping"] is None:
            clean["status_mapping"] = {}
        if not isinstance(clean["status_mapping"], dict):
            raise DestinationError("status_mapping is an object", field="status_mapping")
    if "block_id" in clean:
        clean["block_id"] = str(clean["block_id"] or "").strip()
        if len(clean["block_id"]) > 100:
            raise DestinationError("block_id is at most 100 characters", field="block_id")
    if "body_template" in clean:
        clean["body_template"] = str(clean["body_template"] or "")
    if "active" in clean and not isinstance(clean["active"], bool):
        raise DestinationError("active is true or false", field="active")
    for name, low, kind in LIMITS:
        if name in clean:
            clean[name] = _limit_validate(name, clean[name], low=low, kind=kind)
    if clean.get("disable_after_seconds", UNSET) is None:
        clean["disable_after_seconds"] = DEFAULT_DISABLE_AFTER_SECONDS
    return clean


# (field, smallest value, type): empty (None) means no limit, except for disable_after_seconds,
# where it means the default.
LIMITS = (
    ("rate_limit", 0.01, float),
    ("max_in_flight", 1, int),
    ("disable_after_seconds", 1, int),
)


def _limit_validate(name: str, value: Any, *, low: float, kind: type) -> float | int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DestinationError(f"{name} is a number", field=name)
    if kind is int and not float(value).is_integer():
        raise DestinationError(f"{name} is a whole number", field=name)
    if value < low or value > 10**9:
        raise DestinationError(f"{name} is at least {low:g}", field=name)
    return kind(value)


def _adapter_check(destination: Destination) -> None:
    errors = get_adapter(destination.adapter).config_errors(
        url=destination.url,
        status_mapping=destination.status_mapping,
        body_template=destination.body_template,
    )
    if errors:
        field, message = next(iter(errors.items()))
        raise DestinationError(message, field=field)


def _url_guard_check(destination: Destination) -> None:
    """Refuse a URL whose host does not resolve, or resolves to an address destinations may not
    reach (loopback, private, link-local, ...: integrations.url_guard). The transport checks
    again at every connection, since the name may resolve elsewhere by then."""
    try:
        url_check(get_adapter(destination.adapter).connect_url(destination.url))
    except UrlRefused as error:
        raise DestinationError(str(error), field="url") from None


def _url_changed(before: Destination | None, after: Destination) -> bool:
    # A URL is checked when it is set; one kept as it was is checked at every connection
    # instead, so that editing anything else does not hang on a slow or failing DNS.
    return before is None or (before.url, before.adapter) != (after.url, after.adapter)


def _tls_apply(destination: Destination, tls: dict[str, Any]) -> None:
    """Apply the `tls` object: {"verify", "trust_all", "ca_bundle", "client_cert",
    "client_key", "client_key_password"}; absent keys keep their value, "" clears."""
    if not isinstance(tls, dict):
        raise DestinationError("tls is an object", field="tls")
    unknown = set(tls) - set(TLS_FIELDS)
    if unknown:
        raise DestinationError(f"unknown tls fields: {', '.join(sorted(unknown))}; "
                               f"known: {', '.join(TLS_FIELDS)}", field="tls")  # fmt: skip
    for name in ("verify", "trust_all"):
        if name in tls and not isinstance(tls[name], bool):
            raise DestinationError(f"tls.{name} is true or false", field=f"tls.{name}")
    if "verify" in tls and "trust_all" in tls and tls["verify"] == tls["trust_all"]:
        raise DestinationError("tls.verify and tls.trust_all contradict each other", field="tls")
    if "trust_all" in tls:
        destination.tls_trust_all = tls["trust_all"]
    elif "verify" in tls:
        destination.tls_trust_all = not tls["verify"]
    try:
        if "ca_bundle" in tls:
            destination.tls_ca_bundle = (
                certificates_validate(tls["ca_bundle"], field="tls.ca_bundle")
                if tls["ca_bundle"]
                else ""
            )
        if "client_cert" in tls:
            destination.tls_client_cert = (
                certificates_validate(tls["client_cert"], field="tls.client_cert")
                if tls["client_cert"]
                else ""
            )
            if not tls["client_cert"]:
                destination.tls_client_key_encrypted = ""
                destination.tls_client_key_password_encrypted = ""
        if "client_key" in tls:
            key = tls["client_key"] or ""
            password = tls.get("client_key_password") or ""
            if key:
                if not destination.tls_client_cert:
                    raise TlsConfigError("a client key needs a client certificate",
                                         field="client_cert")  # fmt: skip
                key = client_key_validate(
                    key=key, password=password, certificate=destination.tls_client_cert
                )
            destination.tls_client_key_encrypted = encrypt_or_empty(key)
            destination.tls_client_key_password_encrypted = encrypt_or_empty(password)
        elif "client_key_password" in tls:
            raise TlsConfigError("give the client key again with its password", field="client_key")
        if destination.tls_client_cert and not destination.tls_client_key_encrypted:
            raise TlsConfigError("a client certificate needs its private key", field="client_key")
    except TlsConfigError as error:
        field = error.field if error.field.startswith("tls.") else f"tls.{error.field}"
        raise DestinationError(str(error), field=field) from None


def _secret_for(scheme_name: str, secret: str | None) -> str:
    scheme = get_scheme(scheme_name)
    if secret is None:
        return scheme.new_secret()
    secret = secret.strip()
    try:
        key = scheme.secret_key(secret)
    except ValueError:
        raise DestinationError(f"not a valid secret for the {scheme_name} scheme",
                               field="secret") from None  # fmt: skip
    if len(secret) < 16 or len(key) < 16:
        raise DestinationError("a secret must be at least 16 characters and 16 bytes of key",
                               field="secret")  # fmt: skip
    return secret


def _secret_store(destination: Destination, secret: str) -> None:
    destination.secret_encrypted = encrypt_or_empty(secret)
    destination.secret_fingerprint = crypto.fingerprint(secret) if secret else ""


def destination_summary(destination: Destination) -> dict[str, Any]:
    """What the audit trail keeps of a destination: never a secret, key or private key."""
    return {
        **{name: getattr(destination, name) for name in FIELDS},
        "secret": destination.secret_fingerprint or None,
        "has_key": destination.has_key,
        "tls_trust_all": destination.tls_trust_all,
        "tls_ca_bundle": bool(destination.tls_ca_bundle),
        "tls_client_cert": bool(destination.tls_client_cert),
    }


# --- Destinations -------------------------------------------------------------------------


def destination_check(
    *, destination: Destination | None, values: dict[str, Any], tls: dict[str, Any] | None
) -> None:
    """Raise DestinationError if these changes (or, without a destination, this new one) could
    not be saved; saves nothing. Forms call it to show the error beside its field."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise DestinationError(f"unknown fields: {', '.join(sorted(unknown))}")
    scratch = copy.copy(destination) if destination is not None else Destination()
    for name, value in _clean(values).items():
        setattr(scratch, name, value)
    if tls:
        _tls_apply(scratch, tls)
    _adapter_check(scratch)
    if _url_changed(destination, scratch):
        _url_guard_check(scratch)


def destination_create(
    *,
    actor=None,
    name: str,
    url: str,
    secret: Any = UNSET,
    key: str | None = None,
    tls: dict[str, Any] | None = None,
    **values: Any,
) -> tuple[Destination, str | None]:
    """Create a destination. `secret` absent: one is generated; a string: that one; None or
    "": the destination sends unsigned. Returns the destination and the secret in full, the
    only time the caller sees it."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise DestinationError(f"unknown fields: {', '.join(sorted(unknown))}")
    values = _clean({"name": name, "url": url, **values})
    if "connection_timeout" not in values:
        values["connection_timeout"] = conf()["DEFAULT_CONNECTION_TIMEOUT"]
    destination = Destination(**values, created_by=actor if getattr(actor, "pk", None) else None)
    if tls:
        _tls_apply(destination, tls)
    _adapter_check(destination)
    _url_guard_check(destination)
    if key:
        destination.key_encrypted = crypto.encrypt(str(key))
    plain = (
        None
        if secret in (None, "")
        else _secret_for(destination.signature_scheme, None if secret is UNSET else str(secret))
    )
    _secret_store(destination, plain or "")
    with transaction.atomic():
        destination.save()
        audit_record(
            action=AuditAction.DESTINATION_CHANGED,
            obj_type="destination",
            obj_id=destination.pk,
            actor=actor,
            reason="created",
            after=destination_summary(destination),
        )
    logger.info("destination %s created (%s → %s)", destination.pk, destination.adapter,
                destination.signature_scheme)  # fmt: skip
    return destination, plain


def destination_update(
    *,
    destination: Destination,
    actor=None,
    key: Any = UNSET,
    tls: dict[str, Any] | None = None,
    rotate_secret: bool = False,
    secret: Any = UNSET,
    **changes: Any,
) -> tuple[Destination, str | None]:
    """Change a destination. A new signing secret (rotation, an explicit one, or a change of
    scheme, whose secrets have another form) is returned in full, once; otherwise None."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise DestinationError(f"unknown fields: {', '.join(sorted(unknown))}")
    clean = _clean(changes)
    changed = copy.copy(destination)
    for name, value in clean.items():
        setattr(changed, name, value)
    if _url_changed(destination, changed):
        _adapter_check(changed)  # the URL must parse before its host is resolved
        # Resolved before the row is locked: a slow DNS answer must not hold the lock.
        _url_guard_check(changed)
    with transaction.atomic():
        # Lock: two operators editing at once must not interleave half of each change.
        destination = Destination.objects.select_for_update().get(pk=destination.pk)
        before = destination_summary(destination)
        scheme_changed = clean.get("signature_scheme", destination.signature_scheme) != (
            destination.signature_scheme
        )
        enabled_again = clean.get("active") is True and not destination.active
        for name, value in clean.items():
            setattr(destination, name, value)
        if clean.get("active"):
            destination.disabled_reason = ""
            destination.paused_until = None
        if tls is not None:
            _tls_apply(destination, tls)
        _adapter_check(destination)
        if key is not UNSET:
            destination.key_encrypted = encrypt_or_empty(str(key) if key else "")
        new_secret = None
        if secret is not UNSET:
            new_secret = _secret_for(destination.signature_scheme, secret) if secret else ""
        elif rotate_secret or (scheme_changed and destination.signed):
            new_secret = _secret_for(destination.signature_scheme, None)
        if new_secret is not None:
            _secret_store(destination, new_secret)
        destination.save()
        if enabled_again:
            destination_resume(destination)  # what waited while it was off goes out, in order
        after = destination_summary(destination)
        if after != before or key is not UNSET or tls is not None:
            audit_record(
                action=AuditAction.DESTINATION_CHANGED,
                obj_type="destination",
                obj_id=destination.pk,
                actor=actor,
                reason="secret rotated" if new_secret else "changed",
                before=before,
                after=after,
            )
    return destination, new_secret or None


def destination_delete(*, destination: Destination, actor=None) -> None:
    with transaction.atomic():
        audit_record(
            action=AuditAction.DESTINATION_CHANGED,
            obj_type="destination",
            obj_id=destination.pk,
            actor=actor,
            reason="deleted",
            before=destination_summary(destination),
        )
        destination.delete()


# --- Operator actions on deliveries ---------------------------------------------------------


def delivery_retry(*, delivery: OutboundDelivery, actor=None) -> OutboundDelivery:
    """Send a dead or cancelled delivery again now: one more attempt, with X-Retry-Count
    continuing from its last attempt; if that fails it is a dead letter again."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            OutboundDelivery.objects.select_for_update()
            .select_related("destination")
            .get(pk=delivery.pk)
        )
        if delivery.status not in (DeliveryStatus.DEAD, DeliveryStatus.CANCELLED):
            raise DeliveryConflict(f"delivery {delivery.pk} is {delivery.status}, not dead")
        before = delivery.status
        delivery.status = DeliveryStatus.PENDING
        delivery.max_attempts = delivery.attempts + 1
        delivery.next_attempt_at = now
        delivery.queued_at = now
        delivery.claimed_until = None
        delivery.dead_at = None
        delivery.save()
        audit_record(
            action=AuditAction.DESTINATION_CHANGED,
            obj_type="outbound_delivery",
            obj_id=delivery.pk,
            order_id=delivery.order_id,
            actor=actor,
            reason="retry",
            before={"status": before},
            after={"status": delivery.status, "destination": delivery.destination_id},
        )
        timeout = destination_timeout(delivery.destination)
        transaction.on_commit(lambda: deliveries_enqueue([(delivery.pk, timeout)]))
    return delivery


def delivery_cancel(*, delivery: OutboundDelivery, actor=None) -> OutboundDelivery:
    """Stop retrying a pending delivery. An attempt in flight still finishes and is recorded."""
    with transaction.atomic():
        delivery = OutboundDelivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status != DeliveryStatus.PENDING:
            raise DeliveryConflict(f"delivery {delivery.pk} is {delivery.status}, not pending")
        delivery.status = DeliveryStatus.CANCELLED
        delivery.next_attempt_at = None
        delivery.save()
        audit_record(
            action=AuditAction.DESTINATION_CHANGED,
            obj_type="outbound_delivery",
            obj_id=delivery.pk,
            order_id=delivery.order_id,
            actor=actor,
            reason="cancelled",
            before={"status": DeliveryStatus.PENDING},
            after={"status": delivery.status},
        )
    return delivery


def deliveries_retry(*, deliveries, actor=None) -> int:
    """Retry every dead or cancelled delivery of a queryset (the admin's "all matching")."""
    retried = 0
    for delivery in deliveries.filter(
        status__in=[DeliveryStatus.DEAD, DeliveryStatus.CANCELLED]
    ).iterator():
        try:
            delivery_retry(delivery=delivery, actor=actor)
        except DeliveryConflict:
            continue  # retried by someone else meanwhile
        retried += 1
    return retried


def deliveries_cancel(*, deliveries, actor=None) -> int:
    cancelled = 0
    for delivery in deliveries.filter(status=DeliveryStatus.PENDING).iterator():
        try:
            delivery_cancel(delivery=delivery, actor=actor)
        except DeliveryConflict:
            continue
        cancelled += 1
    return cancelled
