"""Alerts: thresholds evaluated every minute by a django-q2 schedule, and operational events that
need someone (a destination hookdesk disabled). An alert is shown on the dashboard, e-mailed once
with the endpoint, order ids and a link, and announced to the alert channels (console.channels)."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Count, Min
from django.utils import timezone

from console.channels import console_url, operational_event
from console.models import AUDIT_CHAIN_BROKEN, Alert, AlertKind, AlertThreshold, OperationalEvent
from integrations.models import Destination
from rules.models import HeldOrder
from webhooks.models import (
    SIGNATURE_FAILURES,
    AttemptOutcome,
    Delivery,
    Endpoint,
    Event,
    EventStatus,
    ProcessingAttempt,
)

logger = logging.getLogger(__name__)

ALERT_SCHEDULE_NAME = "hookdesk: evaluate alerts"
MAX_ORDER_IDS = 20
ALERT_GROUP = "Operations"


@dataclass
class Reading:
    """One endpoint's figure for one threshold."""

    endpoint_id: int | None
    value: Decimal
    order_ids: list[str] = field(default_factory=list)
    detail: str = ""


def _scoped(queryset, threshold: AlertThreshold, path: str = "endpoint"):
    if threshold.endpoint_id:
        return queryset.filter(**{f"{path}_id": threshold.endpoint_id})
    return queryset


def _signature_failures(threshold: AlertThreshold, since: datetime) -> list[Reading]:
    failures = Delivery.objects.filter(received_at__gte=since, outcome__in=SIGNATURE_FAILURES)
    rows = (
        _scoped(failures, threshold)
        .exclude(endpoint=None)
        .values("endpoint_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [
        Reading(row["endpoint_id"], Decimal(row["n"]), detail=f"{row['n']} signature failures")
        for row in rows
    ]


def _processing_failures(threshold: AlertThreshold, since: datetime) -> list[Reading]:
    failed = _scoped(
        ProcessingAttempt.objects.filter(started_at__gte=since, outcome=AttemptOutcome.FAILED),
        threshold,
        path="event__endpoint",
    )
    readings = []
    rows = failed.values("event__endpoint_id").annotate(n=Count("id")).order_by()
    for row in rows:
        endpoint_id = row["event__endpoint_id"]
        # An event that never processed has no order id yet: name the events, and the orders
        # of those that once did.
        events = list(
            failed.filter(event__endpoint_id=endpoint_id)
            .order_by("-started_at")
            .values_list("event_id", "event__order_id")[: MAX_ORDER_IDS * 5]
        )
        event_ids = list(dict.fromkeys(event_id for event_id, _ in events))[:MAX_ORDER_IDS]
        order_ids = list(dict.fromkeys(order for _, order in events if order))[:MAX_ORDER_IDS]
        detail = f"{row['n']} failed attempts; events {', '.join(event_ids)}"
        readings.append(Reading(endpoint_id, Decimal(row["n"]), order_ids, detail))
    return readings


def _hold_rate(threshold: AlertThreshold, since: datetime) -> list[Reading]:
    events = (
        _scoped(Event.objects.filter(received_at__gte=since), threshold)
        .exclude(order_id="")
        .values("endpoint_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    holds = _scoped(HeldOrder.objects.filter(created_at__gte=since), threshold, "event__endpoint")
    readings = []
    for row in events:
        if row["n"] < threshold.min_events:
            continue
        endpoint_holds = holds.filter(event__endpoint_id=row["endpoint_id"])
        held = endpoint_holds.count()
        rate = (Decimal(held) * 100 / Decimal(row["n"])).quantize(Decimal("0.01"))
        order_ids = list(
            endpoint_holds.order_by("-created_at").values_list("order__order_id", flat=True)[
                :MAX_ORDER_IDS
            ]
        )
        readings.append(
            Reading(row["endpoint_id"], rate, order_ids, f"{held} of {row['n']} orders held")
        )
    return readings


def _oldest_pending(threshold: AlertThreshold, since: datetime) -> list[Reading]:
    """Per endpoint, the age in seconds of its oldest event still waiting to be processed,
    whenever it arrived: a backlog that stopped moving (no worker, a stuck queue)."""
    now = since + timedelta(minutes=threshold.window_minutes)
    rows = (
        _scoped(Event.objects.filter(status=EventStatus.PENDING), threshold)
        .values("endpoint_id")
        .annotate(oldest=Min("received_at"), n=Count("id"))
        .order_by()
    )
    readings = []
    for row in rows:
        age = Decimal(max(0, int((now - row["oldest"]).total_seconds())))
        oldest = list(
            Event.objects.filter(endpoint_id=row["endpoint_id"], status=EventStatus.PENDING)
            .order_by("received_at")
            .values_list("id", "order_id")[:MAX_ORDER_IDS]
        )
        order_ids = list(dict.fromkeys(order for _, order in oldest if order))
        detail = f"{row['n']} pending; oldest events {', '.join(event for event, _ in oldest)}"
        readings.append(Reading(row["endpoint_id"], age, order_ids, detail))
    return readings


READERS = {
    AlertKind.SIGNATURE_FAILURES: _signature_failures,
    AlertKind.PROCESSING_FAILURES: _processing_failures,
    AlertKind.HOLD_RATE: _hold_rate,
    AlertKind.OLDEST_PENDING: _oldest_pending,
}
UNITS = {AlertKind.HOLD_RATE: "%", AlertKind.OLDEST_PENDING: " s"}


def alerts_evaluate(*, now: datetime | None = None) -> list[Alert]:
    """Raise an alert for every enabled threshold crossed on an endpoint, unless the same
    threshold already raised one for that endpoint within its window (no alert storms)."""
    now = now or timezone.now()
    raised = []
    for threshold in AlertThreshold.objects.filter(enabled=True):
        since = now - timedelta(minutes=threshold.window_minutes)
        for reading in READERS[threshold.kind](threshold, since):
            if reading.value <= threshold.limit:
                continue
            recent = Alert.objects.filter(
                threshold=threshold, endpoint_id=reading.endpoint_id, raised_at__gt=since
            )
            if recent.exists():
                continue
            raised.append(_raise(threshold, reading, now))
    return raised


def _raise(threshold: AlertThreshold, reading: Reading, now: datetime) -> Alert:
    endpoint = Endpoint.objects.filter(pk=reading.endpoint_id).first()
    unit = UNITS.get(threshold.kind, "")
    message = (
        f"{threshold.name}: {reading.value}{unit} on {endpoint or 'all endpoints'} in the last "
        f"{threshold.window_minutes} min (limit {threshold.limit}{unit}; {reading.detail})."
    )
    alert = Alert.objects.create(
        threshold=threshold,
        endpoint=endpoint,
        raised_at=now,
        value=reading.value,
        message=message,
        order_ids=reading.order_ids,
    )
    subject = threshold.name + (f" on {endpoint.slug}" if endpoint else "")
    lines = [message, "", f"Endpoint: {endpoint.slug if endpoint else '-'}"]
    if reading.order_ids:
        lines.append("Orders: " + ", ".join(reading.order_ids))
    _alert_email(alert, subject=subject, lines=lines, recipients=alert_recipients(threshold))
    operational_event(
        OperationalEvent.ALERT_RAISED,
        subject=subject,
        text=message,
        data={
            "alert_id": alert.pk,
            "threshold": threshold.name,
            "kind": threshold.kind,
            "endpoint": endpoint.slug if endpoint else None,
            "value": str(reading.value),
            "limit": str(threshold.limit),
            "order_ids": reading.order_ids,
        },
        link=console_url("console-dashboard"),
    )
    logger.warning("alert raised: %s", message)
    return alert


def alert_raise_for_destination_disabled(
    *, destination: Destination, reason: str, now: datetime | None = None
) -> Alert:
    """hookdesk switched a destination off: an alert on the dashboard, e-mailed to the
    Operations group, and the `destination.disabled` operational event to the channels that
    subscribe to it (announced under that event, not as `alert.raised` too)."""
    now = now or timezone.now()
    message = (
        f"Destination {destination.name} ({destination.pk}) was disabled: {reason}. Its pending "
        "deliveries are kept and resume when it is enabled again."
    )
    alert = Alert.objects.create(
        operational_event=OperationalEvent.DESTINATION_DISABLED,
        destination=destination,
        raised_at=now,
        message=message,
    )
    link = console_url("admin:integrations_destination_change", destination.pk)
    subject = f"Destination {destination.name} disabled"
    _alert_email(alert, subject=subject, lines=[message, "", f"Destination: {link}"],
                 recipients=alert_recipients(None))  # fmt: skip
    operational_event(
        OperationalEvent.DESTINATION_DISABLED,
        subject=subject,
        text=message,
        data={
            "alert_id": alert.pk,
            "destination_id": destination.pk,
            "destination": destination.name,
            "reason": reason,
        },
        link=link,
    )
    logger.warning("alert raised: %s", message)
    return alert


def alert_raise_for_audit_chain_broken(*, verification, now: datetime | None = None) -> Alert:
    """The daily walk of the audit chain found a break: an alert on the dashboard, e-mailed to
    the Operations group and announced as `alert.raised`, naming the broken entry and the last
    good head hash (to compare with the heads kept outside the database)."""
    now = now or timezone.now()
    message = (
        f"The audit trail's hash chain is {verification.summary()}. Last good head: "
        f"#{verification.head_seq} {verification.head_hash}. Run manage.py verify_audit, and "
        "compare with the head hashes kept outside the database (docs/security.md)."
    )
    alert = Alert.objects.create(
        operational_event=AUDIT_CHAIN_BROKEN, raised_at=now, message=message
    )
    subject = "Audit trail chain broken"
    _alert_email(alert, subject=subject, lines=[message], recipients=alert_recipients(None))
    operational_event(
        OperationalEvent.ALERT_RAISED,
        subject=subject,
        text=message,
        data={
            "alert_id": alert.pk,
            "kind": AUDIT_CHAIN_BROKEN,
            "broken_entry": verification.broken_id,
            "broken_seq": verification.broken_seq,
            "problem": verification.problem,
            "head_seq": verification.head_seq,
            "head_hash": verification.head_hash,
        },
        link=console_url("console-dashboard"),
    )
    logger.error("alert raised: %s", message)
    return alert


def _alert_email(alert: Alert, *, subject: str, lines: list[str], recipients: list[str]) -> None:
    """E-mail the alert once, with a link to the dashboard; the alert stands whatever the mail
    server says."""
    if not recipients:
        return
    lines = [*lines, "", f"Dashboard: {console_url('console-dashboard')}"]
    try:
        send_mail(
            subject=f"[hookdesk] {subject}",
            message="\n".join(lines),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:
        logger.exception("alert %s: e-mail failed", alert.pk)
    else:
        alert.emailed_to = recipients
        alert.save(update_fields=["emailed_to"])


def alert_recipients(threshold: AlertThreshold | None) -> list[str]:
    """The threshold's own addresses, or else the Operations group's members."""
    addresses = threshold.recipients.split(",") if threshold else []
    listed = [address.strip() for address in addresses if address.strip()]
    if listed:
        return listed
    return list(
        get_user_model()
        .objects.filter(groups__name=ALERT_GROUP, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )


def alert_acknowledge(*, alert: Alert, actor) -> bool:
    return bool(
        Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now(), acknowledged_by=actor
        )
    )


def alerts_evaluate_task() -> int:
    """django-q2 schedule entry point."""
    return len(alerts_evaluate())
