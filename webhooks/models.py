"""Endpoints, their secrets, every HTTP delivery attempt, every stored event and its processing."""

from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from core.audit_actions import audit_actions_register
from core.ids import new_event_id
from webhooks.providers import provider_choices


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
        max_length=20,
        # The registered schemes (webhooks/providers/), read each time: no list of names here.
        choices=provider_choices,
        help_text="Signature scheme and envelope format.",
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
    is_test = models.BooleanField(
        "test",
        default=False,
        help_text="Sent by hookdesk's own test sender (Send test event, send_test_webhook, the "
        "test API), not by the provider: its holds stay out of the review queue by default.",
    )
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


SIGNATURE_FAILURES = (
    DeliveryOutcome.MISSING_SIGNATURE,
    DeliveryOutcome.MALFORMED_SIGNATURE,
    DeliveryOutcome.INVALID_SIGNATURE,
    DeliveryOutcome.TIMESTAMP_OUT_OF_TOLERANCE,
    DeliveryOutcome.INVALID_KEY,
)


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


@audit_actions_register
class AuditAction(models.TextChoices):
    """What the audit trail records of this app's objects."""

    SECRET_CREATED = "secret.created", "Secret created"
    SECRET_ROTATED = "secret.rotated", "Secret rotated"
    SECRET_EXPIRED = "secret.expired", "Secret expired"
    ENDPOINT_CHANGED = "endpoint.changed", "Endpoint changed"
    EVENT_REPLAYED = "event.replayed", "Event replayed"
