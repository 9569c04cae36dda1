"""Hold blocks and their versions, orders as hookdesk knows them, held orders, decisions,
the operator-editable risk lists and backtest runs."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.audit_actions import audit_actions_register
from core.display import moment
from core.ids import ulid
from webhooks.models import Endpoint, Event


def new_block_id() -> str:
    return "blk_" + ulid().lower()


def new_hold_id() -> str:
    return "hold_" + ulid().lower()


class BlockAction(models.TextChoices):
    HOLD = "hold", "Hold"
    FLAG = "flag", "Flag"
    ALLOW = "allow", "Allow"


class BlockStatus(models.TextChoices):
    DRAFT = "draft", "Draft (not evaluated)"
    ACTIVE = "active", "Active"
    SHADOW = "shadow", "Shadow (evaluated and recorded, never holds)"
    DISABLED = "disabled", "Disabled"


class Block(models.Model):
    """A hold rule: the AUTRANEX "Adaptive Sourcing Block"."""

    block_id = models.CharField(max_length=40, unique=True, default=new_block_id, editable=False)
    name = models.CharField(max_length=200)
    condition = models.TextField(
        help_text="e.g. order_value > 5000 and (customer_age_days < 30 or "
        "ship_to_country != bill_to_country)"
    )
    action = models.CharField(max_length=10, choices=BlockAction.choices, default=BlockAction.HOLD)
    metadata = models.JSONField(default=dict, blank=True, help_text="Kept with every decision.")
    status = models.CharField(
        max_length=10, choices=BlockStatus.choices, default=BlockStatus.ACTIVE
    )
    priority = models.IntegerField(default=100, help_text="Lower runs first within an action.")
    event_types = models.JSONField(
        default=list, blank=True, help_text="Event types evaluated; empty for all order events."
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "created_at"]
        indexes = [models.Index(fields=["status", "priority"], name="block_status_priority")]

    def __str__(self) -> str:
        return f"{self.name} ({self.block_id})"

    def snapshot(self) -> dict:
        return {
            "name": self.name,
            "condition": self.condition,
            "action": self.action,
            "metadata": self.metadata,
            "status": self.status,
            "priority": self.priority,
            "event_types": self.event_types,
        }


class BlockVersion(models.Model):
    """An immutable copy of a block as it was at one version."""

    block = models.ForeignKey(Block, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_by_label = models.CharField(max_length=150)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["block", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["block", "version"], name="block_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.block.block_id} v{self.version}"


class Order(models.Model):
    """What hookdesk has learnt about an order from its events."""

    order_id = models.CharField(max_length=200, unique=True)
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer_id = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=10, blank=True)
    ship_to_country = models.CharField(max_length=3, blank=True)
    bill_to_country = models.CharField(max_length=3, blank=True)
    payment_method = models.CharField(max_length=50, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-first_seen_at"]
        indexes = [
            models.Index(
                fields=["customer_id", "first_seen_at"],
                condition=~Q(customer_id=""),
                name="order_customer_seen",
            )
        ]

    def __str__(self) -> str:
        return self.order_id


class CustomerPaymentMethod(models.Model):
    """Payment methods seen per customer, for payment_methods_count and first_time_amex."""

    customer_id = models.CharField(max_length=200)
    method = models.CharField(max_length=50)
    first_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer_id", "method"], name="customer_payment_method_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.method}"


class HoldStatus(models.TextChoices):
    HELD = "held", "Held"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"


class HoldSource(models.TextChoices):
    BLOCK = "block", "hookdesk block"
    UPSTREAM = "upstream", "Held upstream (AUTRANEX order.held)"


class HoldOutcome(models.TextChoices):
    """Why a hold was decided, in a form that can be counted (SPEC 10.3)."""

    VERIFIED = "verified", "Verified customer"
    FALSE_POSITIVE = "false_positive", "False positive"
    CONFIRMED_FRAUD = "confirmed_fraud", "Confirmed fraud"
    POLICY = "policy", "Against policy"
    CUSTOMER_CANCELLED = "customer_cancelled", "Customer cancelled"
    OTHER = "other", "Other"


RELEASE_OUTCOMES = ("verified", "false_positive", "other")
REJECT_OUTCOMES = ("confirmed_fraud", "policy", "customer_cancelled", "other")


FINANCE_NOTE_HELD = (
    "Holding this order voids its payment pre-authorisation; a new authorisation is needed "
    "if it is released."
)
FINANCE_NOTE_RELEASED = (
    "Released: the earlier payment pre-authorisation was voided on hold; request a new "
    "authorisation before fulfilment."
)


class HeldOrder(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_hold_id, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="holds")
    status = models.CharField(max_length=10, choices=HoldStatus.choices, default=HoldStatus.HELD)
    source = models.CharField(max_length=10, choices=HoldSource.choices)
    amount = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=10, blank=True)
    customer_id = models.CharField(max_length=200, blank=True)
    block = models.ForeignKey(
        Block, null=True, blank=True, on_delete=models.PROTECT, related_name="holds"
    )
    block_version = models.PositiveIntegerField(null=True, blank=True)
    upstream_block_id = models.CharField(max_length=100, blank=True)
    reasons = models.JSONField(default=list)
    signals = models.JSONField(default=dict, help_text="The signal values that matched.")
    event = models.OneToOneField(
        Event,
        on_delete=models.PROTECT,
        related_name="hold",
        help_text="The event whose processing created the hold (one hold per event at most).",
    )
    finance_note = models.TextField(default=FINANCE_NOTE_HELD)
    is_test = models.BooleanField(
        "test",
        default=False,
        help_text="Made by a test event (copied from it when the hold was created): left out "
        "of the review queue unless a reviewer asks for test traffic.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    outcome = models.CharField(
        max_length=20,
        choices=HoldOutcome.choices,
        blank=True,
        help_text="The decision's outcome label; empty when none was given.",
    )

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # One open hold per order, whatever the concurrency of its events.
            models.UniqueConstraint(
                fields=["order"], condition=Q(status="held"), name="hold_one_open_per_order"
            )
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="hold_status_created"),
            models.Index(fields=["block", "created_at"], name="hold_block_created"),
            models.Index(fields=["customer_id"], name="hold_customer"),
        ]
        permissions = [
            ("decide_heldorder", "Can release or reject held orders"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.order.order_id}, {self.status})"

    @property
    def public_block_id(self) -> str | None:
        """The block_id that held the order: ours, or the upstream one AUTRANEX reported."""
        return self.block.block_id if self.block_id else (self.upstream_block_id or None)


class Decision(models.Model):
    """What one block decided about one event (first match of each action, and shadow matches)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="decisions")
    block = models.ForeignKey(Block, on_delete=models.CASCADE, related_name="decisions")
    block_version = models.PositiveIntegerField()
    action = models.CharField(max_length=10, choices=BlockAction.choices)
    shadow = models.BooleanField(default=False)
    signals = models.JSONField(default=dict)
    unknown_signals = models.JSONField(default=list)
    order_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["event", "block"], name="decision_event_block")
        ]
        indexes = [models.Index(fields=["block", "-created_at"], name="decision_block_created")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.action} by {self.block_id}"


class RiskListEntry(models.Model):
    """Operator-editable lists used as signals; `ofac_regions` is the one shipped."""

    list_name = models.CharField(max_length=50, default="ofac_regions")
    value = models.CharField(max_length=20, help_text="ISO 3166 country code, upper case.")
    label = models.CharField(max_length=200, blank=True)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["list_name", "value"]
        verbose_name_plural = "risk list entries"
        constraints = [
            models.UniqueConstraint(fields=["list_name", "value"], name="risk_list_value_unique")
        ]

    def __str__(self) -> str:
        return f"{self.list_name}: {self.value}"


class ReviewPolicy(models.Model):
    """How holds are reviewed; one row (pk=1), edited by operations in the admin."""

    four_eyes_amount = models.DecimalField(
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Releasing a hold above this amount needs a second, different reviewer to "
        "confirm. Empty: one reviewer decides every hold.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "review policy"
        verbose_name_plural = "review policy"

    def __str__(self) -> str:
        if self.four_eyes_amount is None:
            return "Review policy: one reviewer decides"
        return f"Review policy: four eyes above {self.four_eyes_amount}"


class ReleaseRequest(models.Model):
    """The first reviewer's release of a hold above the four-eyes amount, waiting for a second
    reviewer. Removed when the release is confirmed; meaningless once the hold is decided."""

    hold = models.OneToOneField(HeldOrder, on_delete=models.CASCADE, related_name="release_request")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField()
    outcome = models.CharField(max_length=20, choices=HoldOutcome.choices, blank=True)

    class Meta:
        ordering = ["requested_at"]

    def __str__(self) -> str:
        return f"release of {self.hold_id} requested by {self.requested_by_id}"


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class BacktestRun(models.Model):
    """One backtest of a block, worked through in the background in chunks. The block is
    evaluated as it was when the run started (its version and condition are kept here), so an
    edit made meanwhile does not change a run half-way. `state` and `cursor_*` are where the
    next chunk starts; `result` is `BacktestResult.as_json()`, partial until the run is done."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    block = models.ForeignKey(Block, on_delete=models.CASCADE, related_name="backtest_runs")
    block_version = models.PositiveIntegerField(help_text="The block's version when started.")
    condition = models.TextField(help_text="The condition evaluated: the block's when started.")
    action = models.CharField(max_length=10, choices=BlockAction.choices)
    event_types = models.JSONField(default=list, blank=True)
    since = models.DateTimeField(help_text="Events received from this moment on.")
    until = models.DateTimeField(help_text="Events received before this moment (exclusive).")
    status = models.CharField(
        max_length=10, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED
    )
    total = models.PositiveIntegerField(
        null=True, blank=True, help_text="Events in the period, counted by the first chunk."
    )
    done = models.PositiveIntegerField(default=0, help_text="Events evaluated so far.")
    result = models.JSONField(default=dict, blank=True)
    state = models.JSONField(
        default=dict, blank=True, help_text="What the next chunk needs: the orders matched so far."
    )
    chunk = models.PositiveIntegerField(default=0, help_text="Chunks claimed so far.")
    cursor_received_at = models.DateTimeField(null=True, blank=True)
    cursor_event_id = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["-created_at"], name="backtestrun_created"),
            models.Index(fields=["status", "-created_at"], name="backtestrun_status_created"),
        ]

    def __str__(self) -> str:
        started = moment(self.created_at)
        return f"backtest of {self.block.name} v{self.block_version} ({started})"

    @property
    def finished(self) -> bool:
        return self.status in (BacktestStatus.DONE, BacktestStatus.CANCELLED, BacktestStatus.FAILED)


@audit_actions_register
class AuditAction(models.TextChoices):
    """What the audit trail records of this app's objects."""

    HOLD_CREATED = "hold.created", "Hold created"
    HOLD_RELEASED = "hold.released", "Hold released"
    HOLD_REJECTED = "hold.rejected", "Hold rejected"
    HOLD_RELEASE_CONFIRMATION = "hold.release_confirmation", "Release awaiting confirmation"
    BLOCK_CREATED = "block.created", "Block created"
    BLOCK_CHANGED = "block.changed", "Block changed"
    ORDER_METADATA_CHANGED = "order.metadata_changed", "Order metadata changed"
    RISK_LIST_CHANGED = "risk_list.changed", "Risk list changed"
    REVIEW_POLICY_CHANGED = "review_policy.changed", "Review policy changed"
