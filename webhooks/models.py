"""Endpoints, their secrets, every HTTP delivery attempt, every stored event and its processing."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from webhooks.ids import new_event_id


class Provider(models.TextChoices):
    AUTRANEX = "autranex", "AUTRANEX"
    PROCUREIQ = "procureiq", "ProcureIQ"
    AUTOMATION = "automation", "Automation API"
    STANDARD = "standard", "Standard Webhooks"


class Environment(models.TextChoices):
    SANDBOX = "sandbox", "Sandbox"
    PRODUCTION = "production", "Production"


class EndpointState(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused (stores, does not process)"
    DISABLED = "disabled", "Disabled (refuses deliveries)"


class Endpoint(models.Model):
    slug = models.SlugField(
        max_length=100, unique=True, help_text="Part of the receiver URL: /webhooks/<slug>/"
    )
    name = models.CharField(max_length=200, blank=True)
    provider = models.CharField(
        max_length=20, choices=Provider.choices, help_text="Signature scheme and envelope format."
    )
    environment = models.CharField(
        max_length=20, choices=Environment.choices, default=Environment.PRODUCTION
    )
    state = models.CharField(
        max_length=20, choices=EndpointState.choices, default=EndpointState.ACTIVE
    )
    installation_key_encrypted = models.TextField(
        blank=True,
        editable=False,
        help_text="Encrypted ?key= value the sender must present (Automation API installations).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        permissions = [("rotate_secret", "Can rotate and expire endpoint secrets")]

    def __str__(self) -> str:
        return self.slug

    @property
    def receiver_path(self) -> str:
        return reverse("webhooks:receive", kwargs={"slug": self.slug})

    @property
    def has_installation_key(self) -> bool:
        return bool(self.installation_key_encrypted)


class EndpointSecret(models.Model):
    """One signing secret of an endpoint. Several may be valid at once during a rotation."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="secrets")
    encrypted = models.TextField(editable=False)
    fingerprint = models.CharField(max_length=40, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty for the current (primary) secret."
    )
    last_verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When this secret last verified a delivery."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["endpoint", "expires_at"], name="secret_endpoint_expiry")]

    def __str__(self) -> str:
        return f"{self.endpoint_id}:{self.fingerprint}"

    def __repr__(self) -> str:
        # Never the secret: reprs end up in logs and tracebacks.
        return f"<EndpointSecret {self.fingerprint} endpoint={self.endpoint_id}>"

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return self.expires_at is None or self.expires_at > now

    @property
    def is_primary(self) -> bool:
        return self.expires_at is None


class EventStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed, retry scheduled"
    DEAD = "dead", "Dead (retries exhausted)"


class Event(models.Model):
    """One accepted provider event: the raw bytes and headers exactly as received."""

    id = models.CharField(primary_key=True, max_length=40, default=new_event_id, editable=False)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="events")
    # NULL, not "", for "no id": the unique constraint must not treat id-less events as equal.
    provider_event_id = models.CharField(  # noqa: DJ001
        max_length=255,
        null=True,
        blank=True,
        help_text="The sender's event id; empty for schemes without one (Automation API).",
    )
    event_type = models.CharField(max_length=100)
    received_at = models.DateTimeField(default=timezone.now)
    body = models.BinaryField(help_text="Raw request body, byte-exact, as signed by the sender.")
    body_sha256 = models.CharField(max_length=64)
    headers = models.JSONField(default=dict, help_text="Request headers as received.")
    verified_by = models.ForeignKey(
        EndpointSecret, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    status = models.CharField(
        max_length=20, choices=EventStatus.choices, default=EventStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    requeued_at = models.DateTimeField(
        null=True, blank=True, help_text="When the sweep last put this event back on the queue."
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    order_id = models.CharField(max_length=200, blank=True)
    customer_id = models.CharField(max_length=200, blank=True)
    order_view = models.JSONField(
        null=True, blank=True, help_text="Canonical order view parsed from the envelope."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            # Idempotency: a provider event is stored once per endpoint, whatever the
            # concurrency of its deliveries.
            models.UniqueConstraint(
                fields=["endpoint", "provider_event_id"],
                condition=Q(provider_event_id__isnull=False),
                name="event_unique_provider_id_per_endpoint",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="event_status_due"),
            models.Index(fields=["endpoint", "-received_at"], name="event_endpoint_received"),
            models.Index(fields=["event_type", "-received_at"], name="event_type_received"),
            models.Index(fields=["-received_at"], name="event_received"),
            # The console's status filter, newest first.
            models.Index(fields=["status", "-received_at"], name="event_status_received"),
            models.Index(fields=["order_id"], condition=~Q(order_id=""), name="event_order_id"),
            models.Index(
                fields=["customer_id", "received_at"],
                condition=~Q(customer_id=""),
                name="event_customer_received",
            ),
        ]
        permissions = [("replay_event", "Can replay events")]

    def __str__(self) -> str:
        return self.id


class DeliveryOutcome(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    DUPLICATE = "duplicate", "Duplicate"
    UNKNOWN_ENDPOINT = "unknown_endpoint", "Unknown endpoint"
    DISABLED_ENDPOINT = "disabled_endpoint", "Endpoint disabled"
    TOO_LARGE = "too_large", "Body too large"
    MISSING_SIGNATURE = "missing_signature", "Missing signature"
    MALFORMED_SIGNATURE = "malformed_signature", "Malformed signature"
    INVALID_SIGNATURE = "invalid_signature", "Invalid signature"
    TIMESTAMP_OUT_OF_TOLERANCE = "timestamp_out_of_tolerance", "Timestamp outside tolerance"
    INVALID_KEY = "invalid_key", "Wrong installation key"
    BAD_BODY = "bad_body", "Unparseable body or missing fields"


class Delivery(models.Model):
    """One HTTP delivery attempt, whatever its outcome. Never holds an unauthenticated body."""

    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    slug = models.CharField(max_length=100, help_text="Slug as requested (endpoint may not exist).")
    received_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=40, choices=DeliveryOutcome.choices)
    status_code = models.PositiveSmallIntegerField()
    event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    headers = models.JSONField(
        default=dict, help_text="Provider retry and delivery headers (never signatures)."
    )
    body_bytes = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField(help_text="Time from request start to the decision.")
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["endpoint", "-received_at"], name="delivery_endpoint_received"),
            models.Index(fields=["outcome", "-received_at"], name="delivery_outcome_received"),
            models.Index(fields=["-received_at"], name="delivery_received"),
        ]

    def __str__(self) -> str:
        return f"{self.slug} {self.outcome} {self.status_code}"


class AttemptTrigger(models.TextChoices):
    QUEUE = "queue", "Queued on receipt"
    RETRY = "retry", "Retry after failure"
    SWEEP = "sweep", "Recovered by sweep"
    RESUME = "resume", "Endpoint resumed"
    REPLAY = "replay", "Replay"


class AttemptOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ProcessingAttempt(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="processing_attempts")
    number = models.PositiveSmallIntegerField()
    trigger = models.CharField(max_length=20, choices=AttemptTrigger.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["event", "number"]
        indexes = [models.Index(fields=["outcome", "-started_at"], name="attempt_outcome_started")]

    def __str__(self) -> str:
        return f"{self.event_id}#{self.number} {self.outcome}"

    @property
    def duration_ms(self) -> float:
        return (self.finished_at - self.started_at).total_seconds() * 1000


class AuditAction(models.TextChoices):
    HOLD_CREATED = "hold.created", "Hold created"
    HOLD_RELEASED = "hold.released", "Hold released"
    HOLD_REJECTED = "hold.rejected", "Hold rejected"
    HOLD_RELEASE_CONFIRMATION = "hold.release_confirmation", "Release awaiting confirmation"
    BLOCK_CREATED = "block.created", "Block created"
    BLOCK_CHANGED = "block.changed", "Block changed"
    SECRET_CREATED = "secret.created", "Secret created"
    SECRET_ROTATED = "secret.rotated", "Secret rotated"
    SECRET_EXPIRED = "secret.expired", "Secret expired"
    ENDPOINT_CHANGED = "endpoint.changed", "Endpoint changed"
    EVENT_REPLAYED = "event.replayed", "Event replayed"
    ORDER_METADATA_CHANGED = "order.metadata_changed", "Order metadata changed"
    RISK_LIST_CHANGED = "risk_list.changed", "Risk list changed"
    DESTINATION_CHANGED = "destination.changed", "Destination changed"
    REVIEW_POLICY_CHANGED = "review_policy.changed", "Review policy changed"


class ImmutableRecord(Exception):
    """Audit entries are written once and never changed or deleted."""


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableRecord("audit entries cannot be changed")

    def delete(self):
        raise ImmutableRecord("audit entries cannot be deleted")


class AuditEntry(models.Model):
    """One entry of the console's audit trail: who did what, when, why, before and after."""

    at = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    actor_label = models.CharField(
        max_length=150, editable=False, help_text="Username at the time, or 'system'."
    )
    action = models.CharField(max_length=40, choices=AuditAction.choices, editable=False)
    object_type = models.CharField(max_length=40, editable=False)
    object_id = models.CharField(max_length=100, editable=False)
    order_id = models.CharField(max_length=200, blank=True, editable=False)
    reason = models.TextField(blank=True, editable=False)
    before = models.JSONField(null=True, blank=True, editable=False)
    after = models.JSONField(null=True, blank=True, editable=False)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit trail"
        indexes = [
            models.Index(fields=["-at"], name="audit_at"),
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object"),
            models.Index(fields=["order_id", "-at"], condition=~Q(order_id=""), name="audit_order"),
            models.Index(fields=["action", "-at"], name="audit_action"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableRecord("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("audit entries cannot be deleted")


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
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-created_at"], name="replayrun_created")]

    def __str__(self) -> str:
        return f"{'dry run' if self.dry_run else 'replay'} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def finished(self) -> bool:
        return self.status in (ReplayStatus.DONE, ReplayStatus.FAILED)


class AlertKind(models.TextChoices):
    SIGNATURE_FAILURES = "signature_failures", "Signature failures on an endpoint"
    PROCESSING_FAILURES = "processing_failures", "Processing failures on an endpoint"
    HOLD_RATE = "hold_rate", "Hold rate (% of order events held)"


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
        help_text="Raised when the figure is above this: a count of failures, or a percentage "
        "for the hold rate.",
    )
    window_minutes = models.PositiveIntegerField(
        default=10, help_text="The figure is taken over this many minutes back from now."
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
        return f"{self.threshold.name} ({self.raised_at:%Y-%m-%d %H:%M})"
