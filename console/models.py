"""The console's tables: replay runs, alert thresholds and the alerts they raise."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.display import moment
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


class Alert(models.Model):
    """A threshold crossed: shown on the dashboard until acknowledged, and e-mailed once."""

    threshold = models.ForeignKey(AlertThreshold, on_delete=models.CASCADE, related_name="alerts")
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    raised_at = models.DateTimeField(default=timezone.now)
    value = models.DecimalField(max_digits=12, decimal_places=2)
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
        indexes = [
            models.Index(fields=["threshold", "endpoint", "-raised_at"], name="alert_threshold"),
            models.Index(
                fields=["-raised_at"],
                condition=Q(acknowledged_at__isnull=True),
                name="alert_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.threshold.name} ({moment(self.raised_at)})"
