"""Admin for endpoints (secrets by fingerprint only), events and delivery attempts."""

from django.contrib import admin
from django.utils.html import format_html

from webhooks.models import (
    AuditEntry,
    Delivery,
    Endpoint,
    EndpointSecret,
    Event,
    ProcessingAttempt,
)


class SecretInline(admin.TabularInline):
    model = EndpointSecret
    fields = ("fingerprint", "created_at", "expires_at", "last_verified_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ("slug", "provider", "environment", "state", "receiver_path", "created_at")
    list_filter = ("provider", "environment", "state")
    search_fields = ("slug", "name")
    readonly_fields = ("receiver_path", "has_installation_key", "created_at", "updated_at")
    inlines = [SecretInline]


class AttemptInline(admin.TabularInline):
    model = ProcessingAttempt
    fields = ("number", "trigger", "outcome", "started_at", "finished_at", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "endpoint", "event_type", "status", "attempts", "order_id", "received_at")
    list_filter = ("status", "endpoint", "event_type")
    search_fields = ("id", "provider_event_id", "order_id", "customer_id")
    list_select_related = ("endpoint",)
    show_full_result_count = False
    date_hierarchy = "received_at"
    exclude = ("body",)
    readonly_fields = ("raw_body",)
    inlines = [AttemptInline]

    @admin.display(description="Body")
    def raw_body(self, obj):
        return format_html("<pre>{}</pre>", bytes(obj.body).decode("utf-8", "replace"))


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "slug", "outcome", "status_code", "latency_ms", "remote_addr")
    list_filter = ("outcome", "status_code", "endpoint")
    search_fields = ("slug", "event__id")
    list_select_related = ("endpoint", "event")
    show_full_result_count = False
    date_hierarchy = "received_at"


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_label", "action", "object_type", "object_id", "reason")
    list_filter = ("action", "object_type")
    search_fields = ("object_id", "order_id", "actor_label")
    show_full_result_count = False
    date_hierarchy = "at"
