"""The console's tables: replay runs, alert thresholds and the alerts they raise, and the alert
channels that carry operational events out (with the messages sent through them)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.audit_actions import audit_actions_register
from core.display import moment
from core.ids import ulid
from integrations.models import Destination
from webhooks.models import Endpoint


class ReplayStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ReplayRun(models.Model):
    """One replay (or dry run) started from the console, worked through in the background in
    chunks. The counters are the progress page; `cursor_*` is where the next chunk starts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dry_run = models.BooleanField(
        default=False, help_text="Shows what a replay would change without changing anything."
    )
    description = models.CharField(max_length=500, blank=True)
    filters = models.JSONField(
        default=dict, blank=True, help_text="The filter that chose the events (by-filter runs)."
    )
    event_ids = models.JSONField(
        null=True, blank=True, help_text="The events chosen one by one (selection runs)."
    )
    status = models.CharField(
        max_length=10, choices=ReplayStatus.choices, default=ReplayStatus.QUEUED
    )
    total = models.PositiveIntegerField(null=True, blank=True)
    done = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    would_hold = models.PositiveIntegerField(default=0, help_text="Dry runs: holds a replay makes.")
    result = models.JSONField(
        default=dict, blank=True, help_text="Dry runs: a sample of the holds a replay would make."
    )
    chunk = models.PositiveIntegerField(default=0, help_text="Chunks claimed so far.")
    cursor_received_at = models.DateTimeField(null=True, blank=True)
    cursor_event_id = models.CharField(max_length=40, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        # The table it was created with, when it belonged to the webhooks app.
        db_table = "webhooks_replayrun"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-created_at"], name="replayrun_created")]

    def __str__(self) -> str:
        return f"{'dry run' if self.dry_run else 'replay'} {moment(self.created_at)}"

    @property
    def finished(self) -> bool:
        return self.status in (ReplayStatus.DONE, ReplayStatus.FAILED)


class AlertKind(models.TextChoices):
    SIGNATURE_FAILURES = "signature_failures", "Signature failures on an endpoint"
    PROCESSING_FAILURES = "processing_failures", "Processing failures on an endpoint"
    HOLD_RATE = "hold_rate", "Hold rate (% of order events held)"
    OLDEST_PENDING = "oldest_pending", "Oldest pending event (age in seconds)"


class AlertThreshold(models.Model):
    """A limit operations set; the alert schedule raises an Alert when it is crossed."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    endpoint = models.ForeignKey(
        Endpoint,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty: every endpoint, each judged on its own.",
    )
    limit = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        help_text="Raised when the figure is above this: a count of failures, a percentage "
        "for the hold rate, or seconds for the oldest pending event.",
    )
    window_minutes = models.PositiveIntegerField(
        default=10,
        help_text="The figure is taken over this many minutes back from now (the oldest "
        "pending event: at most one alert per endpoint in this many minutes).",
    )
    min_events = models.PositiveIntegerField(
        default=20,
        help_text="Hold rate only: fewer order events than this in the window say nothing.",
    )
    recipients = models.CharField(
        max_length=500,
        blank=True,
        help_text="Comma-separated e-mail addresses; empty: the Operations group's members.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table it was created with, when it belonged to the webhooks app.
        db_table = "webhooks_alertthreshold"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OperationalEvent(models.TextChoices):
    """What alert channels subscribe to: the operational events hookdesk announces."""

    ALERT_RAISED = "alert.raised", "Alert raised (a threshold was crossed)"
    DESTINATION_DISABLED = "destination.disabled", "Destination disabled by hookdesk"
    DELIVERY_DEAD = "delivery.dead", "Outbound delivery dead-lettered"
    HOLD_OVERDUE = "hold.overdue", "Hold overdue for review"


# Raised by the daily walk of the audit trail's hash chain (core.audit_chain) when it finds a
# break; announced to the alert channels as `alert.raised`.
AUDIT_CHAIN_BROKEN = "audit.chain_broken"

# Alerts on the dashboard raised by an operational event rather than by a threshold.
EVENT_ALERT_CHOICES = [
    *(
        (value, label)
        for value, label in OperationalEvent.choices
        if value != OperationalEvent.ALERT_RAISED
    ),
    (AUDIT_CHAIN_BROKEN, "Audit trail's hash chain broken"),
]


class Alert(models.Model):
    """Shown on the dashboard until acknowledged, and e-mailed once: a threshold crossed, or an
    operational event that needs someone (a destination hookdesk disabled)."""

    threshold = models.ForeignKey(
        AlertThreshold, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    operational_event = models.CharField(
        max_length=30,
        blank=True,
        choices=EVENT_ALERT_CHOICES,
        help_text="What raised the alert when no threshold did.",
    )
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    destination = models.ForeignKey(
        Destination, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    raised_at = models.DateTimeField(default=timezone.now)
    value = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="The figure, if any."
    )
    message = models.TextField()
    order_ids = models.JSONField(default=list, blank=True)
    emailed_to = models.JSONField(default=list, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        # The table it was created with, when it belonged to the webhooks app.
        db_table = "webhooks_alert"
        ordering = ["-raised_at"]
        constraints = [
            # Raised by exactly one thing: a threshold, or an operational event.
            models.CheckConstraint(
                condition=Q(threshold__isnull=False, operational_event="")
                | (Q(threshold__isnull=True) & ~Q(operational_event="")),
                name="alert_threshold_or_event",
            )
        ]
        indexes = [
            models.Index(fields=["threshold", "endpoint", "-raised_at"], name="alert_threshold"),
            models.Index(
                fields=["-raised_at"],
                condition=Q(acknowledged_at__isnull=True),
                name="alert_open",
            ),
            models.Index(
                fields=["operational_event", "-raised_at"],
                condition=Q(threshold__isnull=True),
                name="alert_by_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({moment(self.raised_at)})"

    @property
    def kind(self) -> str:
        """The threshold's kind, or the operational event that raised the alert."""
        return self.threshold.kind if self.threshold_id else self.operational_event

    @property
    def title(self) -> str:
        if self.threshold_id:
            return self.threshold.name
        return self.get_operational_event_display()


# --- Alert channels -------------------------------------------------------------------------


def new_channel_id() -> str:
    return "ach_" + ulid().lower()


def new_channel_message_id() -> str:
    return "msg_" + ulid().lower()


class ChannelKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    SLACK = "slack", "Slack-compatible incoming webhook"
    WEBHOOK = "webhook", "Signed webhook (Standard Webhooks)"


def all_operational_events() -> list[str]:
    return list(OperationalEvent.values)


class AlertChannel(models.Model):
    """Where operational events go besides the dashboard: e-mail addresses, a Slack-compatible
    incoming webhook or a signed generic webhook. Its own failures are kept on it."""

    id = models.CharField(primary_key=True, max_length=40, default=new_channel_id, editable=False)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    # Encrypted whatever the kind: a Slack webhook URL is itself the credential.
    target_encrypted = models.TextField(editable=False)
    target_display = models.CharField(
        max_length=300,
        editable=False,
        help_text="What may be shown of the target: the addresses, the webhook's URL without "
        "its query, or a Slack URL's host and fingerprint.",
    )
    events = models.JSONField(
        default=all_operational_events,
        help_text="The operational events this channel is sent.",
    )
    active = models.BooleanField(default=True)
    secret_encrypted = models.TextField(blank=True, editable=False)
    secret_fingerprint = models.CharField(max_length=40, blank=True, editable=False)
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["active", "kind"], name="alertchannel_active_kind")]

    def __str__(self) -> str:
        return self.name


class ChannelMessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


# The event of a message sent with the admin's "Send test" button; no channel subscribes to it.
TEST_EVENT = "channel.test"


class ChannelMessage(models.Model):
    """One operational event owed to one channel: a durable job (core.jobs), sent by a task of
    its own, so that a slow or failing channel holds up no other. The last few per channel are
    kept as the channel's log."""

    id = models.CharField(
        primary_key=True,
        max_length=40,
        default=new_channel_message_id,
        editable=False,
        help_text="Sent as the webhook-id of a signed webhook: the same on every attempt.",
    )
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="messages")
    event = models.CharField(max_length=40)
    group = models.CharField(
        max_length=100,
        blank=True,
        help_text="Messages of one event and group are sent at most once in the quiet period "
        "(the dead letters of one destination).",
    )
    subject = models.CharField(max_length=300)
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    link = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=10, choices=ChannelMessageStatus.choices, default=ChannelMessageStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["channel", "-created_at"], name="channelmessage_channel"),
            models.Index(
                fields=["channel", "event", "group", "-created_at"],
                condition=~Q(group=""),
                name="channelmessage_group",
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="channelmessage_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel_id} ({self.status})"


@audit_actions_register
class AuditAction(models.TextChoices):
    """What the audit trail records of the console's objects."""

    ALERT_CHANNEL_CHANGED = "alert_channel.changed", "Alert channel changed"
