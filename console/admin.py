"""The console's admin: replay runs with their progress, alert thresholds, alerts and alert
channels (with Send test, and a webhook's signing secret shown once)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from console.alerts import alert_acknowledge
from console.channel_kinds import ChannelError
from console.channels import FIELDS as CHANNEL_FIELDS
from console.channels import (
    channel_check,
    channel_create,
    channel_delete,
    channel_target,
    channel_test_send,
    channel_update,
)
from console.models import (
    Alert,
    AlertChannel,
    AlertThreshold,
    ChannelKind,
    ChannelMessageStatus,
    OperationalEvent,
    ReplayRun,
)
from console.replay import (
    MAX_SELECTION,
    ReplayError,
    replay_run_from_dry_run,
    replay_run_resume,
    replay_run_start,
)
from core.admin import ReadOnlyMixin
from core.pagination import EstimatedCountPaginator, count_label
from webhooks.admin import EventAdmin
from webhooks.admin_filters import event_filters_from_params
from webhooks.models import Event
from webhooks.selectors import events_for_filters


def _can_replay(request) -> bool:
    return request.user.has_perm("webhooks.replay_event") and request.user.has_perm(
        "console.add_replayrun"
    )


# --- Replay runs -------------------------------------------------------------------------------


@admin.register(ReplayRun)
class ReplayRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "description", "status", "progress", "failed",
                    "would_hold", "created_by")  # fmt: skip
    list_filter = ("status", "dry_run")
    list_select_related = ("created_by",)
    change_form_template = "admin/console/replayrun/progress.html"

    @admin.display(description="Kind")
    def kind(self, obj):
        return "dry run" if obj.dry_run else "replay"

    @admin.display(description="Done")
    def progress(self, obj):
        return f"{obj.done} / {obj.total if obj.total is not None else '…'}"

    def get_urls(self):
        return [
            path(
                "<uuid:pk>/progress.json",
                self.admin_site.admin_view(self.progress_json),
                name="console_replayrun_progress",
            ),
            path(
                "<uuid:pk>/resume/",
                self.admin_site.admin_view(require_POST(self.resume_view)),
                name="console_replayrun_resume",
            ),
            *super().get_urls(),
        ]

    def progress_json(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(ReplayRun, pk=pk)
        return JsonResponse(
            {
                "status": run.status,
                "finished": run.finished,
                "total": run.total,
                "done": run.done,
                "processed": run.processed,
                "failed": run.failed,
                "skipped": run.skipped,
                "would_hold": run.would_hold,
                "error": run.error,
            }
        )

    def resume_view(self, request, pk):
        if not request.user.has_perm("webhooks.replay_event"):
            raise PermissionDenied
        run = get_object_or_404(ReplayRun, pk=pk)
        if replay_run_resume(run=run):
            self.message_user(request, "The run's next step was queued again.")
        else:
            self.message_user(request, "The run is finished or still alive.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:console_replayrun_change", args=[run.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra = {"run": run, "can_replay": _can_replay(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)


# --- Alerts ------------------------------------------------------------------------------------


@admin.register(AlertThreshold)
class AlertThresholdAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "endpoint", "limit", "window_minutes", "enabled")
    list_filter = ("kind", "enabled")
    fields = ("name", "kind", "endpoint", "limit", "window_minutes", "min_events", "recipients",
              "enabled")  # fmt: skip


@admin.register(Alert)
class AlertAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("raised_at", "title", "endpoint", "destination", "value", "message",
                    "acknowledged_at")  # fmt: skip
    list_filter = (
        "threshold",
        "operational_event",
        ("acknowledged_at", admin.EmptyFieldListFilter),
    )
    list_select_related = ("threshold", "endpoint", "destination")
    readonly_fields = ("raised_at", "threshold", "operational_event", "endpoint", "destination",
                       "value", "message", "order_ids", "emailed_to", "acknowledged_at",
                       "acknowledged_by")  # fmt: skip

    @admin.display(description="Alert")
    def title(self, obj):
        return obj.title

    def get_urls(self):
        return [
            path(
                "<int:pk>/acknowledge/",
                self.admin_site.admin_view(require_POST(self.acknowledge_view)),
                name="console_alert_acknowledge",
            ),
            *super().get_urls(),
        ]

    def acknowledge_view(self, request, pk: int):
        if not request.user.has_perm("console.change_alert"):
            raise PermissionDenied
        alert = get_object_or_404(Alert, pk=pk)
        if alert_acknowledge(alert=alert, actor=request.user):
            self.message_user(request, "Alert acknowledged.")
        return HttpResponseRedirect(reverse("console-dashboard"))


# --- Alert channels ----------------------------------------------------------------------------

RECENT_MESSAGES = 20


class AlertChannelForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=OperationalEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=OperationalEvent.values,
        help_text="The operational events sent to this channel.",
    )
    target = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"size": 80, "autocomplete": "off"}),
        help_text="E-mail: addresses, comma-separated. Slack: the incoming-webhook URL, a "
        "secret: stored encrypted and shown only as its host and fingerprint. Signed webhook: "
        "the receiver's URL. Slack and webhook URLs: leave empty to keep the current one.",
    )
    rotate_secret = forms.BooleanField(
        required=False,
        label="Rotate the signing secret",
        help_text="Signed webhooks: the new secret is shown once, after saving.",
    )

    class Meta:
        model = AlertChannel
        fields = ["name", "kind", "events", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # E-mail addresses are shown anyway; a URL is never put back into the page.
        if self.instance.pk and self.instance.kind == ChannelKind.EMAIL:
            self.initial["target"] = channel_target(self.instance)

    def service_values(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in CHANNEL_FIELDS}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            channel_check(
                channel=self.instance if self.instance.pk else None,
                values=self.service_values(),
                target=cleaned.get("target") or None,
            )
        except ChannelError as error:
            self.add_error(error.field if error.field in self.fields else None, str(error))
        return cleaned


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    form = AlertChannelForm
    change_form_template = "admin/console/alertchannel/change_form.html"
    list_display = ("name", "kind", "target_display", "subscriptions", "active", "state",
                    "last_sent_at", "last_failure_at", "last_error")  # fmt: skip
    list_filter = ("active", "kind")
    search_fields = ("name", "id")
    readonly_fields = ("id", "target_display", "secret_fingerprint", "state", "last_sent_at",
                       "last_failure_at", "last_error", "created_at", "updated_at")  # fmt: skip
    fieldsets = (
        (None, {"fields": ("id", "name", "kind", "active")}),
        ("Target", {"fields": ("target_display", "target")}),
        ("Operational events", {"fields": ("events",)}),
        ("Signing (signed webhooks)", {"fields": ("secret_fingerprint", "rotate_secret")}),
        ("Health", {"fields": ("state", "last_sent_at", "last_failure_at", "last_error",
                               "created_at", "updated_at")}),
    )  # fmt: skip

    @admin.display(description="Events")
    def subscriptions(self, obj):
        return ", ".join(obj.events) or "none"

    @admin.display(description="State", ordering="consecutive_failures")
    def state(self, obj):
        if not obj.consecutive_failures:
            return format_html('<span class="hd-ok hd-channel-state">{}</span>', "ok")
        return format_html(
            '<strong class="hd-channel-state" style="color:#ba2121">failing: {} in a row</strong>',
            obj.consecutive_failures,
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/send-test/",
                self.admin_site.admin_view(self.test_view),
                name="console_alertchannel_test",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        channel = self.get_object(request, unquote(object_id))
        extra = {
            "can_test": channel is not None and self.has_change_permission(request, channel),
            "channel_messages": channel.messages.all()[:RECENT_MESSAGES] if channel else [],
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

    def test_view(self, request, object_id):
        """Send a test message through the channel now, and say what came of it."""
        back = HttpResponseRedirect(reverse("admin:console_alertchannel_change", args=[object_id]))
        if request.method != "POST":
            return back
        if not self.has_change_permission(request):
            raise PermissionDenied
        channel = get_object_or_404(AlertChannel, pk=unquote(object_id))
        message = channel_test_send(channel=channel, actor=request.user)
        if message.status == ChannelMessageStatus.SENT:
            answer = (
                f"the receiver answered {message.last_status_code}"
                if message.last_status_code
                else "the mail server took it"
            )
            self.message_user(
                request,
                f"Test message sent through {channel.name}: {answer} "
                f"({message.duration_ms:.0f} ms).",
            )
        else:
            # The error names the target as shown (host and fingerprint), never a URL.
            self.message_user(
                request,
                f"Test message through {channel.name} failed: {message.last_error}",
                messages.ERROR,
            )
        return back

    def save_model(self, request, obj, form, change):
        values = form.service_values()
        target = form.cleaned_data.get("target") or None
        try:
            if change:
                # The form already wrote its values on `obj`: the service compares with what
                # is stored.
                saved, secret = channel_update(
                    channel=AlertChannel.objects.get(pk=obj.pk),
                    actor=request.user,
                    target=target,
                    rotate_secret=bool(form.cleaned_data.get("rotate_secret")),
                    **values,
                )
            else:
                saved, secret = channel_create(actor=request.user, target=target or "", **values)
        except ChannelError as error:  # validated in the form; raced by another change
            self.message_user(request, str(error), messages.ERROR)
            return
        obj.pk = saved.pk
        if secret:
            # Shown once, on a page of its own: never in a message, which the messages
            # framework keeps in a cookie.
            request.hookdesk_new_secret = (saved, secret)

    def save_related(self, request, form, formsets, change):
        """Nothing related to save: the service wrote everything."""

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "hookdesk_new_secret", None):
            return self.secret_once(request, *request.hookdesk_new_secret, "Alert channel created")
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "hookdesk_new_secret", None):
            return self.secret_once(request, *request.hookdesk_new_secret, "Signing secret rotated")
        return super().response_change(request, obj)

    def secret_once(self, request, channel, secret, title):
        """The one response that ever shows this secret. Not cached, not in the session or a
        message: a reload or the back button cannot bring it back."""
        response = TemplateResponse(
            request,
            "admin/console/alertchannel/secret_once.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.opts,
                "channel": channel,
                "secret": secret,
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    def delete_model(self, request, obj):
        channel_delete(channel=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for channel in queryset:
            channel_delete(channel=channel, actor=request.user)


# --- Replays from the event list ----------------------------------------------------------------


class ReplayCountPaginator(EstimatedCountPaginator):
    """How many events "Replay all matching" would process, as its confirmation says it."""

    count_cap = 10_000


class ReplayingEventAdmin(EventAdmin):
    """The event list with the console's background replays: of a selection, or of everything
    the list's filters match, for real or as a dry run."""

    actions = ["replay_selected", "dry_run_selected"]
    change_list_template = "admin/webhooks/event/change_list.html"

    def has_replay_permission(self, request):
        return _can_replay(request)

    def _start(self, request, *, dry_run: bool, event_ids=None, filters=None, description=""):
        run = replay_run_start(
            actor=request.user,
            dry_run=dry_run,
            event_ids=event_ids,
            filters=filters,
            description=description,
        )
        return HttpResponseRedirect(reverse("admin:console_replayrun_change", args=[run.pk]))

    def _selection(self, request, queryset):
        ids = list(queryset.order_by().values_list("pk", flat=True)[: MAX_SELECTION + 1])
        if len(ids) > MAX_SELECTION:
            self.message_user(
                request,
                f"More than {MAX_SELECTION} events selected: use “Replay all matching” with a "
                "filter instead.",
                messages.ERROR,
            )
            return None
        return ids

    @admin.action(description="Replay selected events (background)", permissions=["replay"])
    def replay_selected(self, request, queryset):
        ids = self._selection(request, queryset)
        if ids is not None:
            return self._start(
                request, dry_run=False, event_ids=ids, description=f"{len(ids)} selected events"
            )
        return None

    @admin.action(description="Dry run: what would replaying these change?", permissions=["replay"])
    def dry_run_selected(self, request, queryset):
        ids = self._selection(request, queryset)
        if ids is not None:
            return self._start(
                request, dry_run=True, event_ids=ids, description=f"{len(ids)} selected events"
            )
        return None

    def get_urls(self):
        return [
            path(
                "replay-matching/",
                self.admin_site.admin_view(self.replay_matching_view),
                name="webhooks_event_replay_matching",
            ),
            *super().get_urls(),
        ]

    def replay_matching_view(self, request):
        """Replay (or dry-run) every event the list shows for its current filters. A real
        replay first asks for confirmation, saying how many events it will process."""
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:webhooks_event_changelist"))
        if not self.has_replay_permission(request):
            raise PermissionDenied
        if request.POST.get("dry_run_of"):
            return self._replay_dry_run(request, request.POST["dry_run_of"])
        query = request.POST.get("query", "")
        filters = event_filters_from_params(QueryDict(query))
        description = "events matching " + (
            ", ".join(f"{key}={value}" for key, value in filters.items()) or "(no filter: all)"
        )
        dry_run = request.POST.get("dry_run") == "1"
        if not dry_run and request.POST.get("confirmed") != "1":
            return self._confirm_matching(request, query, filters, description)
        return self._start(request, dry_run=dry_run, filters=filters, description=description)

    def _replay_dry_run(self, request, dry_run_id: str):
        """Replay these N, on a finished dry run: the same selection or filter, for real."""
        try:
            dry_run = ReplayRun.objects.get(pk=dry_run_id)
        except (ReplayRun.DoesNotExist, ValidationError):
            raise Http404("no such dry run") from None
        try:
            run = replay_run_from_dry_run(dry_run=dry_run, actor=request.user)
        except ReplayError as error:
            self.message_user(request, str(error), messages.ERROR)
            run = dry_run
        return HttpResponseRedirect(reverse("admin:console_replayrun_change", args=[run.pk]))

    def _confirm_matching(self, request, query: str, filters: dict, description: str):
        # Counted the way the list counts: a bounded count, or the planner's estimate when
        # nothing is filtered, never a COUNT(*) over millions of events.
        paginator = ReplayCountPaginator(events_for_filters(filters).order_by("-received_at"), 1)
        count = paginator.count
        return TemplateResponse(
            request,
            "admin/webhooks/event/replay_matching_confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": "Replay all matching events?",
                "opts": self.opts,
                "query": query,
                "filters": filters,
                "description": description,
                "count": count,
                "count_label": count_label(paginator, count),
                "approximate": paginator.approximate,
                "estimated": paginator.estimated,
            },
        )

    def changelist_view(self, request, extra_context=None):
        extra = {
            "can_replay": self.has_replay_permission(request),
            "current_query": request.GET.urlencode(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)


admin.site.unregister(Event)
admin.site.register(Event, ReplayingEventAdmin)
