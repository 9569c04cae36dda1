"""Downstream destinations, the outbound deliveries owed to them and every attempt to send one."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.audit_actions import audit_actions_register
from core.ids import ulid
from webhooks.providers import provider_choices

OUTBOUND_EVENT_TYPES = ("order.held", "order.released", "order.rejected")
DEFAULT_DISABLE_AFTER_SECONDS = 5 * 86400


def new_destination_id() -> str:
    return "dst_" + ulid().lower()


def new_delivery_id() -> str:
    return "odl_" + ulid().lower()


def new_outbound_event_id() -> str:
    return "evt_" + ulid()


def all_event_types() -> list[str]:
    return list(OUTBOUND_EVENT_TYPES)


class DestinationScope(models.TextChoices):
    FULL = "full", "Full (order, block, reasons, payment note)"
    FINANCE = "finance", "Finance (order, amount, payment pre-authorisation only)"


class Destination(models.Model):
    """A downstream system told about hold decisions: the Automation API's `webHook` block."""

    id = models.CharField(
        primary_key=True, max_length=40, default=new_destination_id, editable=False
    )
    name = models.CharField(max_length=200)
    # Not a choices field: adapters are discovered from integrations/adapters/, and adding one
    # must not need a migration. Validated by the services and the admin form.
    adapter = models.CharField(
        max_length=40, default="webhook", help_text="How events are shaped for the receiver."
    )
    url = models.CharField(
        max_length=2000,
        help_text="http(s) URL. Custom ERP destinations may use ${order_id}-style placeholders.",
    )
    key_encrypted = models.TextField(
        blank=True,
        editable=False,
        help_text="Encrypted value sent as the ?key= query parameter (Automation API style).",
    )
    signature_scheme = models.CharField(
        max_length=20,
        choices=provider_choices,
        default="autranex",
        help_text="Envelope and signature format the receiver verifies.",
    )
    secret_encrypted = models.TextField(
        blank=True, editable=False, help_text="Encrypted signing secret; empty: unsigned."
    )
    secret_fingerprint = models.CharField(max_length=40, blank=True, editable=False)
    connection_timeout = models.CharField(
        max_length=64,
        default="PT30S",
        help_text="ISO-8601 duration, e.g. PT30S (connect and read each).",
    )
    event_types = models.JSONField(
        default=all_event_types, help_text="Which of order.held/released/rejected are sent."
    )
    block_id = models.CharField(
        max_length=100, blank=True, help_text="Only holds made by this block (empty: all)."
    )
    active = models.BooleanField(default=True)
    scope = models.CharField(
        max_length=10, choices=DestinationScope.choices, default=DestinationScope.FULL
    )
    retry_schedule = models.JSONField(
        null=True,
        blank=True,
        help_text="Seconds between attempts, e.g. [60, 120]; empty: the AUTRANEX schedule.",
    )
    status_mapping = models.JSONField(
        default=dict, blank=True, help_text="hookdesk status (held/released/rejected) → ERP status."
    )
    body_template = models.TextField(
        blank=True, help_text="Custom ERP: JSON body with ${placeholders} for whole values."
    )
    # Limits that protect a fragile receiver; they hold across every worker and cluster.
    rate_limit = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.01)],
        help_text="At most this many deliveries per second (empty: no limit).",
    )
    max_in_flight = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="At most this many deliveries in flight at once (empty: no limit).",
    )
    disable_after_seconds = models.PositiveIntegerField(
        default=DEFAULT_DISABLE_AFTER_SECONDS,
        blank=True,  # empty in a form: the default
        validators=[MinValueValidator(1)],
        help_text="Switched off, with an alert, after failing without a single success for "
        "this long (default 5 days). Its pending deliveries wait for it to be enabled again.",
    )

    tls_trust_all = models.BooleanField(
        default=False,
        help_text="INSECURE: accept any server certificate. For tests only.",
    )
    tls_ca_bundle = models.TextField(
        blank=True, help_text="PEM certificates trusted instead of the system's."
    )
    tls_client_cert = models.TextField(blank=True, help_text="PEM client certificate (chain).")
    tls_client_key_encrypted = models.TextField(blank=True, editable=False)
    tls_client_key_password_encrypted = models.TextField(blank=True, editable=False)

    # Health, kept current by the delivery engine.
    disabled_reason = models.CharField(max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    paused_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Circuit open after timeouts until then."
    )
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="First failure since the last success."
    )
    # The rate limit's clock (GCRA): the earliest time the next delivery may start. Moved on,
    # under the destination's row lock, by every claim, whichever worker makes it.
    rate_next_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "created_at"]
        indexes = [models.Index(fields=["active", "name"], name="destination_active")]

    def __str__(self) -> str:
        return self.name

    @property
    def signed(self) -> bool:
        return bool(self.secret_encrypted)

    @property
    def has_key(self) -> bool:
        return bool(self.key_encrypted)

    @property
    def has_client_key(self) -> bool:
        return bool(self.tls_client_key_encrypted)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    DEAD = "dead", "Dead letter"
    CANCELLED = "cancelled", "Cancelled"


class OutboundDelivery(models.Model):
    """One hold decision owed to one destination. Written in the decision's own transaction
    (the outbox); the unique constraint is what makes replays and retries notify once."""

    id = models.CharField(primary_key=True, max_length=40, default=new_delivery_id, editable=False)
    destination = models.ForeignKey(
        Destination, on_delete=models.CASCADE, related_name="deliveries"
    )
    hold = models.ForeignKey(
        "rules.HeldOrder", on_delete=models.PROTECT, related_name="outbound_deliveries"
    )
    event_type = models.CharField(max_length=40)
    event_id = models.CharField(
        max_length=40,
        unique=True,
        default=new_outbound_event_id,
        help_text="Our event id, the same on every attempt: receivers deduplicate on it.",
    )
    order_id = models.CharField(max_length=200, blank=True)
    notice = models.JSONField(help_text="The decision as it was when made.")
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(
        help_text="Attempts allowed before dead-lettering (an operator's retry adds one)."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it until then."
    )
    queued_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "outbound deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["hold", "event_type", "destination"], name="outbound_once_per_decision"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="outbound_pending_due",
            ),
            # A destination's drain: its due deliveries, oldest first.
            models.Index(
                fields=["destination", "next_attempt_at", "created_at"],
                condition=Q(status="pending"),
                name="outbound_destination_due",
            ),
            # Its deliveries in flight, counted against max_in_flight at every claim.
            models.Index(
                fields=["destination", "claimed_until"],
                condition=Q(status="pending", claimed_until__isnull=False),
                name="outbound_in_flight",
            ),
            models.Index(fields=["destination", "-created_at"], name="outbound_destination"),
            models.Index(fields=["status", "-created_at"], name="outbound_status"),
            models.Index(fields=["event_type", "-created_at"], name="outbound_event_type"),
            models.Index(fields=["order_id"], name="outbound_order"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.order_id} → {self.destination_id} ({self.status})"


class AttemptResult(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded (2xx)"
    HTTP_ERROR = "http_error", "Non-2xx answer"
    RATE_LIMITED = "rate_limited", "429 Too Many Requests"
    GONE = "gone", "410 Gone: destination disabled"
    TIMEOUT = "timeout", "Timed out"
    CONNECTION = "connection", "Connection failed"
    TLS = "tls", "TLS handshake failed"
    CONFIGURATION = "configuration", "Destination misconfigured"


class OutboundAttempt(models.Model):
    """One HTTP attempt at an outbound delivery."""

    delivery = models.ForeignKey(OutboundDelivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    result = models.CharField(max_length=20, choices=AttemptResult.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    retry_count_header = models.PositiveIntegerField(
        null=True, blank=True, help_text="X-Retry-Count sent with this attempt."
    )
    error = models.CharField(max_length=500, blank=True)
    response_snippet = models.TextField(blank=True, help_text="First bytes of the answer.")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="outbound_attempt_once")
        ]
        indexes = [models.Index(fields=["result", "-started_at"], name="outbound_attempt_result")]

    def __str__(self) -> str:
        return f"{self.delivery_id}#{self.number} {self.result}"


@audit_actions_register
class AuditAction(models.TextChoices):
    """What the audit trail records of this app's objects."""

    DESTINATION_CHANGED = "destination.changed", "Destination changed"
