"""The admin for endpoints (secrets by fingerprint, rotation, test events), events and
deliveries (filters, raw bytes, replay of one event).

Every action calls a service; the admin only parses the request and shows the outcome."""

import secrets as secrets_module
from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, Value, Window
from django.db.models.functions import RowNumber
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape, format_html
from django.utils.http import urlencode
from django.utils.text import Truncator

from core.admin import BigTableAdmin, PageFiguresChangeList, ReadOnlyMixin, pre_block
from core.admin_filters import ReceivedFilter
from webhooks import admin_filters
from webhooks.models import (
    Delivery,
    Endpoint,
    EndpointSecret,
    Environment,
    Event,
    EventStatus,
    ProcessingAttempt,
)
from webhooks.processing import error_field
from webhooks.replay import event_replay
from webhooks.samples import DEFAULT_EVENT_TYPES, sample_delivery, sample_receive
from webhooks.selectors import EVENT_SEARCH_FIELDS, endpoints_delivery_figures
from webhooks.services import (
    DEFAULT_GRACE,
    ENDPOINT_EDITABLE,
    GRACE_CHOICES,
    SecretError,
    endpoint_create,
    endpoint_update,
    parse_grace,
    secret_expire,
    secret_rotate,
)

GRACE_LABELS = {
    "0": "None: old secrets stop now",
    "1h": "1 hour",
    "24h": "24 hours",
    "7d": "7 days",
}
ROTATION_NONCES = "hookdesk_rotation_nonces"
# The events list's last-error column, in characters; the full text is its tooltip.
LAST_ERROR_COLUMN = 40
MAX_PENDING_NONCES = 10


# The request's own address, annotated on each endpoint an admin page lists or shows: display
# methods get the object, not the request.
REQUEST_BASE_URL = "hd_request_base_url"


def _base_url(request) -> str:
    """The configured public address, or else the address this request came to."""
    if settings.HOOKDESK.get("PUBLIC_BASE_URL_CONFIGURED") or request is None:
        return settings.HOOKDESK["PUBLIC_BASE_URL"]
    return request.build_absolute_uri("/")


def _receiver_url(endpoint: Endpoint, base_url: str | None = None) -> str:
    base_url = base_url or getattr(endpoint, REQUEST_BASE_URL, None) or _base_url(None)
    return base_url.rstrip("/") + endpoint.receiver_path


# --- Endpoints --------------------------------------------------------------------------------


class EndpointForm(forms.ModelForm):
    installation_key = forms.CharField(
        required=False,
        strip=True,
        help_text="Automation API only: the ?key= value senders must present. Stored encrypted.",
    )

    class Meta:
        model = Endpoint
        fields = ("slug", "name", "provider", "environment", "state")
        # Escaped: the admin renders help text as HTML, where "<slug>" would be a tag.
        help_texts = {"slug": escape("The receiver URL is /webhooks/<slug>/")}


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ("slug", "name", "provider", "environment", "state", "receiver_url",
                    "last_delivery", "refused_24h")  # fmt: skip
    list_filter = ("provider", "environment", "state")
    search_fields = ("slug", "name")
    change_form_template = "admin/webhooks/endpoint/change_form.html"

    def get_changelist(self, request, **kwargs):
        return PageFiguresChangeList

    def page_figures(self, endpoints):
        figures = endpoints_delivery_figures(endpoint_ids=[endpoint.pk for endpoint in endpoints])
        for endpoint in endpoints:
            endpoint.hd_figures = figures.get(endpoint.pk)

    @admin.display(description="Last delivery")
    def last_delivery(self, obj):
        moment = (getattr(obj, "hd_figures", None) or {}).get("last_delivery_at")
        if moment is None:
            return "never"
        url = (
            reverse("admin:webhooks_delivery_changelist") + "?" + urlencode({"endpoint": obj.slug})
        )
        return format_html('<a href="{}" class="hd-last-delivery">{}</a>', url, _when(moment))

    @admin.display(description="Refused, 24 h")
    def refused_24h(self, obj):
        figures = getattr(obj, "hd_figures", None) or {}
        total, refused = figures.get("deliveries_24h", 0), figures.get("refused_24h", 0)
        if not total:
            return "-"
        return format_html(
            '<span class="hd-refused">{} of {} ({})</span>',
            refused,
            total,
            f"{refused / total:.1%}",
        )

    def get_queryset(self, request):
        # Every endpoint the list or a page shows carries this request's address.
        return (
            super().get_queryset(request).annotate(**{REQUEST_BASE_URL: Value(_base_url(request))})
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("slug", "name", "provider", "environment", "installation_key")
        return ("slug", "provider", "receiver_url", "name", "environment", "state",
                "has_installation_key", "created_at", "updated_at")  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("slug", "provider", "receiver_url", "has_installation_key", "created_at",
                "updated_at")  # fmt: skip

    @admin.display(description="Receiver URL")
    def receiver_url(self, obj):
        url = _receiver_url(obj)
        return format_html(
            '<code class="hd-receiver-url">{}</code>'
            '<button type="button" class="button hd-copy" data-copy="{}">Copy</button>',
            url,
            url,
        )

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(view)

        return [
            path("<int:pk>/rotate/", wrap(self.rotate_view), name="webhooks_endpoint_rotate"),
            path(
                "<int:pk>/secrets/<int:secret_pk>/expire/",
                wrap(self.expire_view),
                name="webhooks_endpoint_expire_secret",
            ),
            path(
                "<int:pk>/test-event/",
                wrap(self.test_event_view),
                name="webhooks_endpoint_test_event",
            ),
            *super().get_urls(),
        ]

    # Adding goes through endpoint_create: the first secret is shown once, like a rotation's.
    def save_model(self, request, obj, form, change):
        if not change:
            endpoint, secret = endpoint_create(
                slug=obj.slug,
                provider=obj.provider,
                environment=obj.environment,
                name=obj.name,
                installation_key=form.cleaned_data.get("installation_key") or None,
                actor=request.user,
            )
            obj.pk, obj.created_at = endpoint.pk, endpoint.created_at
            obj.installation_key_encrypted = endpoint.installation_key_encrypted
            request.hookdesk_new_secret = secret
            return
        changes = {
            name: form.cleaned_data[name] for name in ENDPOINT_EDITABLE if name in form.changed_data
        }
        queued = endpoint_update(endpoint=obj, actor=request.user, **changes)
        obj.refresh_from_db()
        if queued:
            self.message_user(request, f"Resumed: {queued} stored event(s) queued.")

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "hookdesk_new_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        fingerprint = obj.secrets.order_by("-created_at", "-id").first().fingerprint
        return self._secret_once(request, obj, secret, fingerprint, heading="Endpoint created")

    def _secret_once(self, request, endpoint, secret, fingerprint, *, heading, grace=None):
        """The one response that ever shows this secret. Not cached, not in the session or a
        message: a reload or the back button cannot bring it back."""
        response = TemplateResponse(
            request,
            "admin/webhooks/endpoint/secret_once.html",
            {
                **self.admin_site.each_context(request),
                "title": heading,
                "opts": self.opts,
                "endpoint": endpoint,
                "secret": secret,
                "fingerprint": fingerprint,
                "grace": grace,
                "receiver_url": _receiver_url(endpoint, _base_url(request)),
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        endpoint = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if endpoint is not None:
            can_rotate = request.user.has_perm("webhooks.rotate_secret")
            extra.update(
                secrets=endpoint.secrets.order_by("-created_at", "-id"),
                can_rotate=can_rotate,
                can_test=request.user.has_perm("webhooks.change_endpoint"),
                grace_choices=[(value, GRACE_LABELS[value]) for value in GRACE_CHOICES],
                default_grace=DEFAULT_GRACE,
                default_event_type=DEFAULT_EVENT_TYPES[endpoint.provider],
                test_needs_confirmation=_test_needs_confirmation(endpoint),
                rotation_nonce=self._new_rotation_nonce(request) if can_rotate else None,
            )
        return super().change_view(request, object_id, form_url, extra)

    def _new_rotation_nonce(self, request) -> str:
        # A single-use token per rendered rotation form: re-posting the form (a reload of the
        # page that showed the secret) is refused instead of rotating again.
        nonce = secrets_module.token_urlsafe(16)
        pending = request.session.get(ROTATION_NONCES, [])[-(MAX_PENDING_NONCES - 1) :]
        request.session[ROTATION_NONCES] = [*pending, nonce]
        return nonce

    def _endpoint_or_denied(self, request, pk: int, permission: str) -> Endpoint:
        if not request.user.has_perm(permission):
            raise PermissionDenied
        return get_object_or_404(Endpoint, pk=pk)

    def _back(self, endpoint: Endpoint):
        return HttpResponseRedirect(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))

    def rotate_view(self, request, pk: int):
        endpoint = self._endpoint_or_denied(request, pk, "webhooks.rotate_secret")
        if request.method != "POST":
            return self._back(endpoint)
        pending = request.session.get(ROTATION_NONCES, [])
        nonce = request.POST.get("nonce", "")
        if nonce not in pending:
            self.message_user(
                request,
                "That rotation form was already used: the secret it made is not shown again. "
                "Rotate again if it was lost.",
                messages.WARNING,
            )
            return self._back(endpoint)
        request.session[ROTATION_NONCES] = [value for value in pending if value != nonce]
        grace_value = request.POST.get("grace", DEFAULT_GRACE)
        try:
            if grace_value not in GRACE_CHOICES:
                raise SecretError(f"grace must be one of {', '.join(GRACE_CHOICES)}")
            stored, secret = secret_rotate(
                endpoint=endpoint, grace=parse_grace(grace_value), actor=request.user
            )
        except SecretError as error:
            self.message_user(request, str(error), messages.ERROR)
            return self._back(endpoint)
        return self._secret_once(
            request,
            endpoint,
            secret,
            stored.fingerprint,
            heading="Secret rotated",
            grace=GRACE_LABELS[grace_value],
        )

    def expire_view(self, request, pk: int, secret_pk: int):
        endpoint = self._endpoint_or_denied(request, pk, "webhooks.rotate_secret")
        if request.method != "POST":
            return self._back(endpoint)
        secret = get_object_or_404(EndpointSecret, pk=secret_pk, endpoint=endpoint)
        try:
            secret_expire(secret=secret, actor=request.user)
        except SecretError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(request, f"Secret {secret.fingerprint} expired: it verifies nothing.")
        return self._back(endpoint)

    def test_event_view(self, request, pk: int):
        endpoint = self._endpoint_or_denied(request, pk, "webhooks.change_endpoint")
        if request.method != "POST":
            return self._back(endpoint)
        try:
            amount = Decimal(request.POST.get("amount") or "5500")
        except InvalidOperation:
            self.message_user(request, "The amount must be a number.", messages.ERROR)
            return self._back(endpoint)
        if _test_needs_confirmation(endpoint) and request.POST.get("confirm_production") != "yes":
            self.message_user(
                request,
                f"{endpoint.slug} is a production endpoint: tick the confirmation to send a test "
                "event that may create a hold reviewers can see. Nothing was sent.",
                messages.WARNING,
            )
            return self._back(endpoint)
        event_type = request.POST.get("event_type", "").strip() or None
        delivery = sample_delivery(
            endpoint=endpoint, event_type=event_type, amount=amount, test=True
        )
        # In process, through the receiver's own view: no HTTP request to this server that
        # would need a second web worker while this one waits.
        receipt = sample_receive(delivery=delivery)
        if receipt.event_id:
            message = format_html(
                "Test {} sent: the receiver answered {} and stored event {}.{}",
                delivery.event_type,
                receipt.status_code,
                format_html(
                    '<a href="{}" id="test-event-link">{}</a>',
                    reverse("admin:webhooks_event_change", args=[receipt.event_id]),
                    receipt.event_id,
                ),
                _test_hold_note(receipt.event_id),
            )
        else:
            message = format_html(
                "Test {} sent: the receiver answered {}: {}",
                delivery.event_type,
                receipt.status_code,
                str(receipt.body.get("error", ""))[:300],
            )
        level = messages.SUCCESS if receipt.status_code == 200 else messages.WARNING
        self.message_user(request, message, level)
        return self._back(endpoint)


def _when(moment) -> str:
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _test_needs_confirmation(endpoint: Endpoint) -> bool:
    """A test event on a production endpoint may create a hold reviewers can see. Which blocks
    would match is the rules app's to say, and this app may not ask it: every test event on a
    production endpoint asks for a confirmation."""
    return endpoint.environment == Environment.PRODUCTION


def _test_hold_note(event_id: str):
    """A link to the hold the test event made, when processing has made it already (it runs
    after the receiver's commit, on a worker), or where it will be found."""
    event = Event.objects.filter(pk=event_id).only("status").first()
    hold = getattr(event, "hold", None) if event else None
    if hold is not None:
        return format_html(
            ' It created test hold <a href="{}" id="test-hold-link">{}</a> ({}).',
            reverse("admin:rules_heldorder_change", args=[hold.pk]),
            hold.pk,
            hold.status,
        )
    if event is not None and event.status == EventStatus.PROCESSED:
        return " It created no hold."
    return " It is being processed: the event's page links its hold, if it makes one."


def test_badge(is_test: bool):
    """The badge of test traffic, or nothing for a real event."""
    if not is_test:
        return ""
    return format_html(
        '<span class="hd-badge test" title="{}">test</span>',
        "Sent by hookdesk's test sender, not by the provider.",
    )


# --- Events and deliveries ---------------------------------------------------------------------


def _milliseconds(value: float | None) -> str:
    return "-" if value is None else f"{round(value):,} ms"


class AttemptInline(admin.TabularInline):
    model = ProcessingAttempt
    # Times show to the second in the console's one format (core/formats).
    fields = ("ordinal", "trigger", "outcome", "started_at", "finished_at", "duration", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("started_at", "id")

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # Numbered 1, 2, 3 … oldest first: the stored number counts claims, which a lost
        # claim or the sweep can skip.
        return (
            super()
            .get_queryset(request)
            .annotate(
                ordinal=Window(
                    RowNumber(), partition_by=[F("event_id")], order_by=[F("started_at"), F("id")]
                )
            )
        )

    @admin.display(description="#")
    def ordinal(self, obj):
        return getattr(obj, "ordinal", obj.number)

    @admin.display(description="Duration")
    def duration(self, obj):
        return _milliseconds(obj.duration_ms)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("received_at", "outcome", "status_code", "latency", "remote_addr", "headers")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "HTTP deliveries of this event"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Latency")
    def latency(self, obj):
        return _milliseconds(obj.latency_ms)


@admin.register(Event)
class EventAdmin(ReadOnlyMixin, BigTableAdmin):
    list_display = ("id", "endpoint", "event_type", "status", "attempts", "order_id",
                    "last_error_short", "received_at")  # fmt: skip
    list_filter = (
        admin_filters.EndpointFilter,
        admin_filters.EventTypeFilter,
        admin_filters.EventStatusFilter,
        ReceivedFilter,
    )
    search_fields = ("id",)  # shows the search box; the search itself is exact_search_fields
    exact_search_fields = EVENT_SEARCH_FIELDS
    search_help_text = "Exact event id, order id or customer id."
    list_select_related = ("endpoint",)
    ordering = ("-received_at",)
    fields = (
        "id", "endpoint", "provider_event_id", "event_type", "received_at", "status", "attempts",
        "next_attempt_at", "processed_at", "last_error", "field_at_fault", "order_id",
        "customer_id", "hold_link",
        "body_pretty", "headers_pretty", "order_view_pretty", "body_sha256", "verified_by",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [AttemptInline, DeliveryInline]
    change_form_template = "admin/webhooks/event/change_form.html"

    # The test badge sits next to the event's id, on the list and on the page.
    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        return (*columns[:1], "traffic", *columns[1:])

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        return (*fields[:1], "traffic", *fields[1:])

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "traffic")

    @admin.display(description="Traffic")
    def traffic(self, obj):
        return test_badge(obj.is_test)

    @admin.display(description="Last error")
    def last_error_short(self, obj):
        if not obj.last_error:
            return "-"
        short = Truncator(obj.last_error).chars(LAST_ERROR_COLUMN)
        return format_html(
            '<span class="hd-last-error" title="{}">{}</span>', obj.last_error, short
        )

    @admin.display(description="Field at fault")
    def field_at_fault(self, obj):
        name = error_field(obj.last_error)
        return format_html('<code id="field-at-fault">{}</code>', name) if name else "-"

    @admin.display(description="Body (raw, as signed)")
    def body_pretty(self, obj):
        return pre_block(obj.body)

    @admin.display(description="Headers")
    def headers_pretty(self, obj):
        return pre_block(obj.headers)

    @admin.display(description="Order view")
    def order_view_pretty(self, obj):
        return pre_block(obj.order_view) if obj.order_view else "-"

    @admin.display(description="Hold")
    def hold_link(self, obj):
        hold = getattr(obj, "hold", None)
        if hold is None:
            return "-"
        url = reverse("admin:rules_heldorder_change", args=[hold.pk])
        return format_html('<a href="{}">{} ({})</a>', url, hold.pk, hold.status)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/replay/",
                self.admin_site.admin_view(self.replay_one_view),
                name="webhooks_event_replay",
            ),
            *super().get_urls(),
        ]

    def replay_one_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:webhooks_event_change", args=[object_id]))
        if not request.user.has_perm("webhooks.replay_event"):
            raise PermissionDenied
        event = get_object_or_404(Event, pk=object_id)
        if event_replay(event=event, actor=request.user, reason="replayed from the console"):
            self.message_user(request, f"Event {event.pk} queued for processing again.")
        else:
            self.message_user(request, "The event is being processed right now.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:webhooks_event_change", args=[event.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {
            "can_replay": request.user.has_perm("webhooks.replay_event"),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyMixin, BigTableAdmin):
    list_display = ("received_at", "slug", "outcome", "status_code", "latency", "event_link")
    list_filter = (
        admin_filters.EndpointFilter,
        admin_filters.SignatureFilter,
        admin_filters.DeliveryOutcomeFilter,
        ReceivedFilter,
    )
    search_fields = ("event__id",)
    exact_search_fields = ("event_id",)
    search_help_text = "Exact event id."
    list_select_related = ("endpoint",)
    ordering = ("-received_at",)
    fields = ("received_at", "slug", "endpoint", "outcome", "status_code", "detail", "event",
              "remote_addr", "body_bytes", "latency", "headers_pretty")  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Latency", ordering="latency_ms")
    def latency(self, obj):
        return _milliseconds(obj.latency_ms)

    @admin.display(description="Event")
    def event_link(self, obj):
        if not obj.event_id:
            return "-"
        url = reverse("admin:webhooks_event_change", args=[obj.event_id])
        return format_html('<a href="{}">{}</a>', url, obj.event_id)

    @admin.display(description="Headers (never signatures)")
    def headers_pretty(self, obj):
        return pre_block(obj.headers)
