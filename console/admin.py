"""The console's admin: replay runs with their progress, alert thresholds and alerts."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from console.alerts import alert_acknowledge
from console.models import Alert, AlertThreshold, ReplayRun
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
    list_display = ("raised_at", "threshold", "endpoint", "value", "message", "acknowledged_at")
    list_filter = ("threshold", ("acknowledged_at", admin.EmptyFieldListFilter))
    list_select_related = ("threshold", "endpoint")
    readonly_fields = ("raised_at", "threshold", "endpoint", "value", "message", "order_ids",
                       "emailed_to", "acknowledged_at", "acknowledged_by")  # fmt: skip

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
