"""The kernel's tables: the audit trail every app writes to."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core import audit_chain
from core.audit_actions import audit_action_choices
from core.display import moment


class ImmutableRecord(Exception):
    """Audit entries are written once and never changed or deleted."""


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableRecord("audit entries cannot be changed")

    def delete(self):
        raise ImmutableRecord("audit entries cannot be deleted")

    def bulk_create(self, objs, *args, **kwargs):
        """Entries written in bulk join the chain like any other (core.audit_chain)."""
        objs = list(objs)
        for entry in objs:
            audit_chain.seal(entry)
        created = super().bulk_create(objs, *args, **kwargs)
        audit_chain.entries_link(self.model)
        return created


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
    action = models.CharField(max_length=40, choices=audit_action_choices, editable=False)
    object_type = models.CharField(max_length=40, editable=False)
    object_id = models.CharField(max_length=100, editable=False)
    order_id = models.CharField(max_length=200, blank=True, editable=False)
    reason = models.TextField(blank=True, editable=False)
    before = models.JSONField(null=True, blank=True, editable=False)
    after = models.JSONField(null=True, blank=True, editable=False)
    # The hash chain (core.audit_chain, docs/security.md).
    seq = models.BigIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Place in the chain, from 1; set when the writing transaction commits.",
    )
    content_hash = models.CharField(
        max_length=64, editable=False, help_text="SHA-256 of the entry's canonical content."
    )
    prev_hash = models.CharField(
        max_length=64, blank=True, editable=False, help_text="The previous entry's hash."
    )
    hash = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="SHA-256 of the place, the previous hash and the content hash.",
    )

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        # The table it was created with, when it belonged to the webhooks app.
        db_table = "webhooks_auditentry"
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit trail"
        indexes = [
            models.Index(fields=["-at"], name="audit_at"),
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object"),
            models.Index(fields=["order_id", "-at"], condition=~Q(order_id=""), name="audit_order"),
            models.Index(fields=["action", "-at"], name="audit_action"),
            models.Index(fields=["actor_label", "-at"], name="audit_actor"),
            models.Index(fields=["hash"], name="audit_hash"),
        ]
        constraints = [
            # One chain: no two entries in the same place, so two writers cannot fork it.
            models.UniqueConstraint(fields=["seq"], name="audit_seq_unique"),
            models.CheckConstraint(
                condition=Q(content_hash__regex=r"^[0-9a-f]{64}$"),
                name="audit_content_hash_set",
                violation_error_message="audit entries are written through core.audit",
            ),
        ]
        permissions = [
            ("export_auditentry", "Can list and export the audit trail through the API"),
        ]

    def __str__(self) -> str:
        return f"{moment(self.at)} {self.actor_label} {self.action} {self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableRecord("audit entries cannot be changed")
        audit_chain.seal(self)
        super().save(*args, **kwargs)
        audit_chain.entries_link(type(self))

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("audit entries cannot be deleted")


class UserPreferences(models.Model):
    """What one console user chose for themselves: the time zone times are shown in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hookdesk_preferences"
    )
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="IANA name, e.g. Europe/Berlin; empty: the console's."
    )

    class Meta:
        verbose_name_plural = "user preferences"

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone or 'console time zone'})"


class CacheGeneration(models.Model):
    """How many times what a named process-local cache reads has changed (core.caching).

    Bumped in the transaction that makes the change, read before each use of the cache: every
    process sees a change the moment it commits, without a time-to-live."""

    name = models.CharField(max_length=50, primary_key=True)
    generation = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.generation}"
