"""Admin for destinations (secrets shown once, insecure TLS flagged, health at a glance) and
outbound deliveries (dead letters, retry one or all matching, cancel pending). Every change goes
through integrations.services."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from core.admin import PageFiguresChangeList
from core.display import moment
from integrations.adapters import ADAPTERS
from integrations.admission import in_flight
from integrations.models import (
    OUTBOUND_EVENT_TYPES,
    DeliveryStatus,
    Destination,
    OutboundAttempt,
    OutboundDelivery,
)
from integrations.selectors import (
    destination_circuit,
    destination_health,
    destination_pending,
    destinations_delivery_figures,
    destinations_with_counts,
)
from integrations.services import (
    UNSET,
    DeliveryConflict,
    DestinationError,
    deliveries_cancel,
    deliveries_retry,
    delivery_retry,
    destination_check,
    destination_create,
    destination_delete,
    destination_update,
)

# What an operator may send again from a delivery's page (delivery_retry's rule).
RETRYABLE = (DeliveryStatus.DEAD, DeliveryStatus.CANCELLED)

# Where a service's error field shows in the form.
_FORM_FIELD = {
    "retry_schedule": "retry_schedule_text",
    "tls.ca_bundle": "tls_ca_bundle",
    "tls.client_cert": "tls_client_cert",
    "tls.client_key": "client_key",
    "tls.client_key_password": "client_key_password",
    "tls.trust_all": "tls_trust_all",
}
_MODEL_FIELDS = (
    "name",
    "adapter",
    "url",
    "signature_scheme",
    "connection_timeout",
    "event_types",
    "block_id",
    "scope",
    "active",
    "status_mapping",
    "body_template",
    "rate_limit",
    "max_in_flight",
    "disable_after_seconds",
)


class DestinationForm(forms.ModelForm):
    adapter = forms.ChoiceField(choices=[(a.name, a.label) for a in ADAPTERS.values()])
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in OUTBOUND_EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        initial=list(OUTBOUND_EVENT_TYPES),
    )
    retry_schedule_text = forms.CharField(
        label="Retry schedule",
        required=False,
        help_text="Seconds between attempts, comma-separated (e.g. 60, 120, 240). "
        "Empty: the AUTRANEX schedule, 1 to 128 minutes.",
    )
    status_mapping = forms.JSONField(
        required=False,
        help_text='Epicor Eclipse and custom ERP: e.g. {"held": "suspend", "released": "open", '
        '"rejected": "cancel"}. Empty: the adapter\'s defaults.',
    )
    key = forms.CharField(
        required=False,
        help_text="Sent as ?key=. Stored encrypted, never shown; leave empty to keep.",
    )
    clear_key = forms.BooleanField(required=False, label="Remove the key")
    tls_trust_all = forms.BooleanField(
        required=False,
        label="INSECURE: trust any server certificate",
        help_text="Turns TLS verification off. Never for production receivers.",
    )
    client_key = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="PEM private key of the client certificate. Stored encrypted; never shown; "
        "leave empty to keep.",
    )
    client_key_password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False)
    )
    unsigned = forms.BooleanField(
        required=False, label="Send unsigned (no signing secret)", help_text="New destinations."
    )
    rotate_secret = forms.BooleanField(
        required=False,
        label="Rotate the signing secret",
        help_text="The new secret is shown once, after saving.",
    )

    class Meta:
        model = Destination
        fields = [
            "name",
            "adapter",
            "url",
            "signature_scheme",
            "connection_timeout",
            "event_types",
            "block_id",
            "scope",
            "active",
            "status_mapping",
            "body_template",
            "tls_trust_all",
            "tls_ca_bundle",
            "tls_client_cert",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.retry_schedule:
            self.initial["retry_schedule_text"] = ", ".join(
                str(s) for s in self.instance.retry_schedule
            )

    def clean_retry_schedule_text(self):
        text = self.cleaned_data["retry_schedule_text"].strip()
        if not text:
            return None
        try:
            return [json.loads(item.strip()) for item in text.split(",")]
        except ValueError:
            raise forms.ValidationError("numbers of seconds, separated by commas") from None

    def service_values(self) -> dict:
        data = self.cleaned_data
        values = {name: data.get(name) for name in _MODEL_FIELDS}
        values["status_mapping"] = data.get("status_mapping") or {}
        values["retry_schedule"] = data.get("retry_schedule_text")
        values["block_id"] = values["block_id"] or ""
        return values

    def service_tls(self) -> dict:
        data = self.cleaned_data
        tls = {
            "trust_all": bool(data.get("tls_trust_all")),
            "ca_bundle": data.get("tls_ca_bundle") or "",
            "client_cert": data.get("tls_client_cert") or "",
        }
        if data.get("client_key"):
            tls["client_key"] = data["client_key"]
            tls["client_key_password"] = data.get("client_key_password") or ""
        return tls

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            destination_check(
                destination=self.instance if self.instance.pk else None,
                values=self.service_values(),
                tls=self.service_tls(),
            )
        except DestinationError as error:
            field = _FORM_FIELD.get(error.field or "", error.field)
            self.add_error(field if field in self.fields else None, str(error))
        return cleaned


def _duration_words(seconds: int) -> str:
    """5 days, 3 hours, 90 s: the largest whole unit."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} s"


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    form = DestinationForm
    list_display = (
        "name",
        "adapter",
        "signature_scheme",
        "url",
        "active",
        "tls_flag",
        "pending",
        "dead_letters",
        "last_delivery",
        "failed_24h",
        "last_success_at",
        "last_error",
    )
    list_filter = ("active", "adapter", "signature_scheme", "scope", "tls_trust_all")
    search_fields = ("name", "url", "id")
    readonly_fields = (
        "id",
        "tls_flag",
        "secret_fingerprint",
        "has_key",
        "has_client_key",
        "health",
        "circuit",
        "limits_now",
        "pending_deliveries",
        "disabled_reason",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("id", "name", "adapter", "url", "active", "disabled_reason")}),
        (
            "Health",
            {"fields": ("health", "circuit", "pending_deliveries", "created_at", "updated_at")},
        ),
        (
            "Events",
            {"fields": ("event_types", "block_id", "scope", "status_mapping", "body_template")},
        ),
        (
            "Signing and delivery",
            {
                "fields": (
                    "signature_scheme",
                    "secret_fingerprint",
                    "unsigned",
                    "rotate_secret",
                    "has_key",
                    "key",
                    "clear_key",
                    "connection_timeout",
                    "retry_schedule_text",
                )
            },
        ),
        (
            "Limits",
            {"fields": ("rate_limit", "max_in_flight", "disable_after_seconds", "limits_now")},
        ),
        (
            "TLS",
            {
                "fields": (
                    "tls_flag",
                    "tls_trust_all",
                    "tls_ca_bundle",
                    "tls_client_cert",
                    "has_client_key",
                    "client_key",
                    "client_key_password",
                )
            },
        ),
    )
    actions = ["rotate_secrets"]

    def get_queryset(self, request):
        return destinations_with_counts()

    def get_changelist(self, request, **kwargs):
        return PageFiguresChangeList

    def page_figures(self, destinations):
        figures = destinations_delivery_figures(destination_ids=[d.pk for d in destinations])
        for destination in destinations:
            destination.hd_figures = figures.get(destination.pk)

    @admin.display(description="Last delivery (24 h)")
    def last_delivery(self, obj):
        figures = getattr(obj, "hd_figures", None)
        if not figures:
            return "none"
        return format_html(
            '<a href="{}" class="hd-last-delivery">{}</a>',
            self._deliveries_url(obj),
            date_format(timezone.localtime(figures["last"]), "DATETIME_FORMAT"),
        )

    @admin.display(description="Failed, 24 h")
    def failed_24h(self, obj):
        figures = getattr(obj, "hd_figures", None)
        if not figures:
            return "-"
        return format_html(
            '<span class="hd-failed" title="{}">{} of {} ({})</span>',
            "Outbound deliveries made in the last 24 hours that are dead or retrying.",
            figures["failed"],
            figures["total"],
            f"{figures['failed'] / figures['total']:.1%}",
        )

    def _deliveries_url(self, obj, **filters) -> str:
        return (
            reverse("admin:integrations_outbounddelivery_changelist")
            + "?"
            + urlencode({"destination__id__exact": obj.pk, **filters})
        )

    @admin.display(description="TLS", ordering="tls_trust_all")
    def tls_flag(self, obj):
        if obj.tls_trust_all:
            return format_html(
                '<strong style="color:#ba2121">{}</strong>', "INSECURE: trusts any certificate"
            )
        return "verified" + (" (own CA)" if obj.tls_ca_bundle else "")

    def _deliveries_link(self, obj, count, status):
        url = self._deliveries_url(obj, status__exact=status)
        return format_html('<a href="{}">{}</a>', url, count)

    @admin.display(description="Pending")
    def pending(self, obj):
        return self._deliveries_link(obj, getattr(obj, "pending_count", "…"), "pending")

    @admin.display(description="Dead letters")
    def dead_letters(self, obj):
        return self._deliveries_link(obj, getattr(obj, "dead_count", "…"), "dead")

    @admin.display(description="Health (last 24 h)")
    def health(self, obj):
        if not obj.pk:
            return "—"
        health = destination_health(destination=obj)
        rate = health["success_rate_24h"]
        p50, p95 = health["latency_p50_ms_24h"], health["latency_p95_ms_24h"]
        return format_html(
            "success rate {} over {} attempts; latency {}; {} pending, {} dead; last error: {}",
            "—" if rate is None else f"{rate:.1%}",
            health["attempts_24h"],
            "—" if p50 is None else f"median {p50:,.0f} ms, p95 {p95:,.0f} ms",
            health["pending"],
            health["dead"],
            health["last_error"] or "none",
        )

    @admin.display(description="Circuit")
    def circuit(self, obj):
        if not obj.pk:
            return "—"
        state = destination_circuit(obj)
        if state == "open":
            return format_html(
                "<strong>open</strong> until {}: its deliveries wait, then go one at a time",
                moment(obj.paused_until),
            )
        if state == "probing":
            return format_html(
                "<strong>probing</strong>: {} failures in a row since {}; one delivery at a time"
                " until one succeeds (switched off after {} of failures)",
                obj.consecutive_failures,
                moment(obj.failing_since),
                _duration_words(obj.disable_after_seconds),
            )
        return format_html("<strong>{}</strong>", state)

    @admin.display(description="Now")
    def limits_now(self, obj):
        if not obj.pk:
            return "—"
        rate = f"{obj.rate_limit:g} deliveries/s" if obj.rate_limit else "no rate limit"
        cap = f"at most {obj.max_in_flight}" if obj.max_in_flight else "no cap"
        return format_html("{}; {} in flight ({} now)", rate, cap, in_flight(obj, timezone.now()))

    @admin.display(description="Pending deliveries (soonest first)")
    def pending_deliveries(self, obj):
        if not obj.pk:
            return "—"
        rows = destination_pending(destination=obj)
        if not rows:
            return "none"
        now = timezone.now()
        # A list, not a table: it wraps at phone width instead of being cut off.
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a> · {} · {}: <strong>{}</strong></li>',
            (
                (
                    reverse("admin:integrations_outbounddelivery_change", args=[d.pk]),
                    d.order_id or d.pk,
                    d.event_type,
                    f"retry {d.attempts}" if d.attempts else "first attempt",
                    "sending now"
                    if d.claimed_until and d.claimed_until > now
                    else moment(d.next_attempt_at),
                )
                for d in rows
            ),
        )
        return format_html('<ul class="pending-deliveries">{}</ul>', items)

    def save_model(self, request, obj, form, change):
        values = form.service_values()
        data = form.cleaned_data
        key = "" if data.get("clear_key") else (data.get("key") or UNSET)
        try:
            if change:
                saved, secret = destination_update(
                    destination=obj,
                    actor=request.user,
                    key=key,
                    tls=form.service_tls(),
                    rotate_secret=bool(data.get("rotate_secret")),
                    **values,
                )
            else:
                saved, secret = destination_create(
                    actor=request.user,
                    key=None if key is UNSET else key,
                    tls=form.service_tls(),
                    secret=None if data.get("unsigned") else UNSET,
                    **values,
                )
        except DestinationError as error:  # validated in the form; raced by another change
            self.message_user(request, str(error), messages.ERROR)
            return
        obj.pk = saved.pk
        if secret:
            # Shown once, on a page of its own (secrets_once): never in a message, which the
            # messages framework keeps in a cookie.
            request.hookdesk_new_secrets = [(saved, secret)]

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "hookdesk_new_secrets", None):
            return self.secrets_once(request, request.hookdesk_new_secrets, "Destination created")
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "hookdesk_new_secrets", None):
            secrets = request.hookdesk_new_secrets
            return self.secrets_once(request, secrets, "Signing secret rotated")
        return super().response_change(request, obj)

    def secrets_once(self, request, secrets, title):
        """The one response that ever shows these secrets. Not cached, not in the session or a
        message: a reload or the back button cannot bring them back."""
        response = TemplateResponse(
            request,
            "admin/integrations/destination/secret_once.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.opts,
                "secrets": [
                    {"destination": destination, "secret": secret}
                    for destination, secret in secrets
                ],
                "done_url": reverse("admin:integrations_destination_changelist"),
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    def save_related(self, request, form, formsets, change):
        """Nothing related to save: the service wrote everything."""

    def delete_model(self, request, obj):
        destination_delete(destination=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for destination in queryset:
            destination_delete(destination=destination, actor=request.user)

    @admin.action(description="Rotate signing secrets (shown once)", permissions=["change"])
    def rotate_secrets(self, request, queryset):
        rotated = [
            destination_update(destination=destination, actor=request.user, rotate_secret=True)
            for destination in queryset
        ]
        return self.secrets_once(request, rotated, "Signing secrets rotated")


class AttemptInline(admin.TabularInline):
    model = OutboundAttempt
    fields = ("number", "started_at", "duration_ms", "result", "status_code",
              "retry_count_header", "error", "response_snippet")  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OutboundDelivery)
class OutboundDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "destination",
        "event_type",
        "order_id",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "destination", "event_type")
    search_fields = ("id", "event_id", "order_id", "hold__id")
    list_select_related = ("destination",)
    show_full_result_count = False
    date_hierarchy = "created_at"
    exclude = ("notice",)
    readonly_fields = ("notice_json",)
    inlines = [AttemptInline]
    actions = ["retry_now", "cancel_pending"]
    change_form_template = "admin/integrations/outbounddelivery/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_operate_permission(self, request):
        return request.user.has_perm("integrations.change_outbounddelivery")

    def get_urls(self):
        return [
            path(
                "<path:object_id>/retry/",
                self.admin_site.admin_view(self.retry_view),
                name="integrations_outbounddelivery_retry",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        delivery = self.get_object(request, unquote(object_id))
        retryable = delivery is not None and delivery.status in RETRYABLE
        extra = {
            "can_retry": retryable and self.has_operate_permission(request),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

    def retry_view(self, request, object_id):
        """One dead letter sent again, from its own page (POST only)."""
        back = HttpResponseRedirect(
            reverse("admin:integrations_outbounddelivery_change", args=[object_id])
        )
        if request.method != "POST":
            return back
        if not self.has_operate_permission(request):
            raise PermissionDenied
        delivery = get_object_or_404(OutboundDelivery, pk=unquote(object_id))
        try:
            delivery_retry(delivery=delivery, actor=request.user)
        except DeliveryConflict as error:
            self.message_user(request, str(error), messages.WARNING)
            return back
        self.message_user(request, f"Delivery {delivery.pk} queued for another attempt now.")
        return back

    @admin.display(description="Notice")
    def notice_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.notice, indent=2))

    @admin.action(
        description="Retry now (dead letters and cancelled; 'select all' retries every match)",
        permissions=["operate"],
    )
    def retry_now(self, request, queryset):
        count = deliveries_retry(deliveries=queryset, actor=request.user)
        self.message_user(request, f"{count} deliveries queued for another attempt.")

    @admin.action(description="Cancel pending retries", permissions=["operate"])
    def cancel_pending(self, request, queryset):
        count = deliveries_cancel(deliveries=queryset, actor=request.user)
        self.message_user(request, f"{count} pending deliveries cancelled.")
