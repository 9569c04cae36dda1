"""Admin for the review queue (held orders: release and reject with a reason, four eyes above
an amount), blocks (validated, versioned and audited through the services; status switching;
backtest runs with their progress), orders, decisions, risk lists and the review policy."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from core.pagination import EstimatedCountPaginator
from core.queries import exact_search
from rules import admin_filters
from rules.backtest import backtest_run_cancel, backtest_run_start
from rules.block_stats import block_stats, stats_period
from rules.bulk import MAX_BULK_HOLDS, bulk_decide, hold_decide
from rules.evidence import EVIDENCE_PERMISSIONS, hold_evidence
from rules.models import (
    BacktestRun,
    Block,
    BlockStatus,
    BlockVersion,
    Decision,
    HeldOrder,
    HoldStatus,
    Order,
    ReleaseRequest,
    ReviewPolicy,
    RiskListEntry,
)
from rules.recheck import RECENT_DAYS, RECHECK_FIELDS, RecheckResult, block_recheck
from rules.services import (
    BLOCK_FIELDS,
    HoldConflict,
    RuleError,
    block_create,
    block_update,
    block_values_clean,
    hold_needs_second_reviewer,
    review_policy,
    review_policy_set,
)
from rules.stats_chart import holds_per_day_chart
from rules.timeline import hold_amount_change, hold_held_by, order_audit_trail, order_timeline
from webhooks.admin import test_badge
from webhooks.models import Event

DECIDE_PERMISSION = "rules.decide_heldorder"


class BlockForm(forms.ModelForm):
    class Meta:
        model = Block
        fields = list(BLOCK_FIELDS)

    def clean(self):
        """The services' own checks, so that a save can only fail here, next to the field."""
        cleaned = super().clean()
        values = {name: cleaned[name] for name in BLOCK_FIELDS if name in cleaned}
        try:
            block_values_clean(values)
        except RuleError as error:
            self.add_error(error.field if error.field in self.fields else None, str(error))
        return cleaned


class VersionInline(admin.TabularInline):
    model = BlockVersion
    fields = ("version", "changed_by_label", "changed_at", "snapshot")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "version history"

    def has_add_permission(self, request, obj=None):
        return False


def _datetime_local() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class BacktestForm(forms.Form):
    """A period to the minute. A browser sends datetime-local values without a zone: the
    form reads them in the current time zone."""

    since = forms.DateTimeField(
        required=False, widget=_datetime_local(), help_text="Empty: 7 days before Until."
    )
    until = forms.DateTimeField(
        required=False, widget=_datetime_local(), help_text="Exclusive. Empty: now."
    )

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since >= until:
            raise forms.ValidationError("Since must be before Until.")
        return cleaned


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    form = BlockForm
    list_display = ("name", "block_id", "action", "status", "priority", "version", "updated_at")
    list_filter = ("status", "action")
    search_fields = ("name", "block_id", "condition")
    readonly_fields = ("block_id", "version", "created_at", "updated_at")
    inlines = [VersionInline]
    actions = ["make_active", "make_shadow", "make_draft", "make_disabled"]
    change_form_template = "admin/rules/block/change_form.html"

    def has_delete_permission(self, request, obj=None):
        return False  # disable a block instead: holds and decisions point at it

    def save_model(self, request, obj, form, change):
        values = {
            name: form.cleaned_data[name] for name in BLOCK_FIELDS if name in form.cleaned_data
        }
        # BlockForm.clean ran the services' checks, so these do not refuse the values.
        # Read by response_change: an edit that stops the block holding shows its open holds.
        obj.status_changed = change and "status" in form.changed_data
        if change:
            saved = block_update(block=obj, actor=request.user, **values)
        else:
            saved = block_create(actor=request.user, **values)
        obj.pk, obj.block_id, obj.version = saved.pk, saved.block_id, saved.version

    def save_related(self, request, form, formsets, change):
        """Versions are written by the services; the version inline is read-only."""

    def construct_change_message(self, request, form, formsets, add=False):
        # The read-only version inline is never saved, so it has nothing to report; the
        # services keep the version history and the audit trail.
        return super().construct_change_message(request, form, [], add)

    def _switch(self, request, queryset, status: str):
        switched = 0
        for block in queryset:
            if block.status != status:
                block_update(
                    block=block, actor=request.user, reason="status switched", status=status
                )
                switched += 1
        self.message_user(request, f"{switched} block(s) now {BlockStatus(status).label}.")

    @admin.action(description="Make active (holds orders)", permissions=["change"])
    def make_active(self, request, queryset):
        self._switch(request, queryset, BlockStatus.ACTIVE)

    @admin.action(description="Make shadow (evaluated and recorded, never holds)",
                  permissions=["change"])  # fmt: skip
    def make_shadow(self, request, queryset):
        self._switch(request, queryset, BlockStatus.SHADOW)

    @admin.action(description="Make draft (not evaluated)", permissions=["change"])
    def make_draft(self, request, queryset):
        self._switch(request, queryset, BlockStatus.DRAFT)

    @admin.action(description="Disable", permissions=["change"])
    def make_disabled(self, request, queryset):
        blocks = list(queryset)
        self._switch(request, queryset, BlockStatus.DISABLED)
        owning = [b for b in blocks if b.holds.filter(status=HoldStatus.HELD).exists()]
        if len(owning) == 1:
            # One block disabled: show at once which of its open holds nothing holds any more.
            return HttpResponseRedirect(reverse("admin:rules_block_recheck", args=[owning[0].pk]))
        if owning:
            names = ", ".join(b.name for b in owning)
            self.message_user(
                request,
                f"{names} still own open holds: each block's Re-check open queue shows which "
                "of them nothing holds any more.",
                messages.WARNING,
            )
        return None

    def response_change(self, request, obj):
        """After an edit that stops the block holding (disabled, draft, shadow), show which of
        its open holds nothing holds any more, rather than the list of blocks."""
        stopped = obj.status != BlockStatus.ACTIVE and getattr(obj, "status_changed", False)
        keep_editing = {"_continue", "_addanother", "_saveasnew"} & set(request.POST)
        if stopped and not keep_editing and _owns_open_holds(obj):
            self.message_user(request, f"{obj.name} is now {obj.get_status_display()}.")
            return HttpResponseRedirect(reverse("admin:rules_block_recheck", args=[obj.pk]))
        return super().response_change(request, obj)

    def get_urls(self):
        return [
            path(
                "<int:pk>/backtest/",
                self.admin_site.admin_view(self.backtest_view),
                name="rules_block_backtest",
            ),
            path(
                "<int:pk>/recheck/",
                self.admin_site.admin_view(self.recheck_view),
                name="rules_block_recheck",
            ),
            path(
                "<int:pk>/recheck/preview/",
                self.admin_site.admin_view(require_POST(self.recheck_preview_view)),
                name="rules_block_recheck_preview",
            ),
            path(
                "<int:pk>/recheck/release/",
                self.admin_site.admin_view(require_POST(self.recheck_release_view)),
                name="rules_block_recheck_release",
            ),
            *super().get_urls(),
        ]

    # --- Re-check the open queue ----------------------------------------------------------------

    def has_recheck_permission(self, request) -> bool:
        """Re-checking the block as saved only reads blocks and holds."""
        user = request.user
        return user.has_perm("rules.view_block") and user.has_perm("rules.view_heldorder")

    def recheck_view(self, request, pk: int):
        """Which open holds of the block, as saved, nothing holds any more (with one reason
        to release them all), which another block still holds, and which recent clear
        orders it would newly hold."""
        if not self.has_recheck_permission(request):
            raise PermissionDenied
        block = get_object_or_404(Block, pk=pk)
        result = block_recheck(block=block)
        return TemplateResponse(
            request,
            "admin/rules/block/recheck.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Re-check open queue: {block.name}",
                "opts": self.opts,
                "rule_block": block,
                "can_release": request.user.has_perm(DECIDE_PERMISSION),
                "release_form": DecisionForm(),
                **recheck_context(result),
            },
        )

    def recheck_preview_view(self, request, pk: int):
        """The re-check of an edit not saved yet (the change form's condition and status), as
        a fragment the change form shows in place."""
        if not self.has_change_permission(request) or not self.has_recheck_permission(request):
            raise PermissionDenied
        block = get_object_or_404(Block, pk=pk)
        changes = {name: request.POST[name] for name in RECHECK_FIELDS if name in request.POST}
        try:
            result = block_recheck(block=block, changes=changes)
        except RuleError as error:
            context = {"recheck_error": str(error), "recheck_field": error.field}
            return TemplateResponse(
                request, "admin/rules/block/recheck_result.html", context, status=400
            )
        return TemplateResponse(
            request,
            "admin/rules/block/recheck_result.html",
            {"rule_block": block, "preview": True, **recheck_context(result)},
        )

    def recheck_release_view(self, request, pk: int):
        """Release, with one reason, the open holds the re-check page listed that nothing holds
        any more. Re-checked again first: a hold something holds again meanwhile is left held.
        Each release is the reviewer's single-hold release (four eyes, audit trail)."""
        if not request.user.has_perm(DECIDE_PERMISSION):
            raise PermissionDenied
        block = get_object_or_404(Block, pk=pk)
        back = HttpResponseRedirect(reverse("admin:rules_block_recheck", args=[block.pk]))
        form = DecisionForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "A reason is required.", messages.ERROR)
            return back
        listed = request.POST.getlist("hold")
        still = set(block_recheck(block=block).no_longer_matching)
        hold_ids = [hold_id for hold_id in dict.fromkeys(listed) if hold_id in still]
        if not hold_ids:
            self.message_user(request, "No listed hold is left to release.", messages.WARNING)
            return back
        outcomes, queued = bulk_decide(
            hold_ids=hold_ids,
            actor=request.user,
            decision="release",
            reason=form.cleaned_data["reason"],
            seconds=settings.HOOKDESK["BULK_DECISION_WAIT_SECONDS"],
        )
        summary = ", ".join(f"{count} {outcome}" for outcome, count in outcomes.items())
        if queued:
            summary = (summary + "; " if summary else "") + (
                f"{queued} more are being released in the background"
            )
        if len(hold_ids) < len(listed):
            summary += f"; {len(listed) - len(hold_ids)} left held: something holds them again"
        self.message_user(request, f"Release: {summary}.")
        return back

    def backtest_view(self, request, pk: int):
        """Start a backtest run of the block over a period; its progress page shows what the
        block would have held."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        block = get_object_or_404(Block, pk=pk)
        form = BacktestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            run = backtest_run_start(
                block=block,
                since=form.cleaned_data["since"],
                until=form.cleaned_data["until"],
                actor=request.user,
            )
            return HttpResponseRedirect(reverse("admin:rules_backtestrun_change", args=[run.pk]))
        return TemplateResponse(
            request,
            "admin/rules/block/backtest.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Backtest: {block.name}",
                "opts": self.opts,
                "rule_block": block,
                "form": form,
                "recent_runs": block.backtest_runs.all()[:5],
            },
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {
            "can_backtest": self.has_change_permission(request),
            "can_recheck": self.has_recheck_permission(request),
            "can_recheck_edit": self.has_change_permission(request)
            and self.has_recheck_permission(request),
            "recheck_days": RECENT_DAYS,
            **self._open_holds_context(object_id),
            **self._stats_context(request, object_id),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

    def _open_holds_context(self, object_id) -> dict:
        """A block that no longer holds but still owns open holds says so at the top."""
        block = Block.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        if block is None or block.status == BlockStatus.ACTIVE:
            return {}
        return {"open_holds_owned": block.holds.filter(status=HoldStatus.HELD).count()}

    def _stats_context(self, request, object_id) -> dict:
        """The block's statistics over the last 30 days, and its chart of holds per day."""
        block = self.get_object(request, object_id)
        if block is None:
            return {}  # the admin answers the missing block itself
        since, until = stats_period(since=None, until=None)
        stats = block_stats(block=block, since=since, until=until)
        return {
            "block_stats": stats,
            "block_stats_reject_rate": _percent(stats.reject_rate),
            "block_stats_median": _duration(stats.median_seconds_to_decision),
            "block_stats_chart": holds_per_day_chart(stats.per_day),
        }


def _owns_open_holds(block: Block) -> bool:
    return block.holds.filter(status=HoldStatus.HELD).exists()


# The re-check page lists this many holds and orders of each kind; the release takes every
# hold listed as no longer held (at most rules.recheck.MAX_HOLDS).
SHOWN_ON_RECHECK_PAGE = 200


def recheck_context(result: RecheckResult) -> dict:
    """What the re-check templates show of a result: the holds and orders behind its ids."""
    lost = list(
        HeldOrder.objects.filter(pk__in=result.no_longer_matching)
        .select_related("order")
        .order_by("created_at", "pk")
    )
    waiting = set(ReleaseRequest.objects.filter(hold__in=lost).values_list("hold_id", flat=True))
    policy = review_policy()
    rows = [
        {
            "hold": hold,
            "awaiting_second": hold.pk in waiting,
            "needs_second": hold.pk not in waiting and hold_needs_second_reviewer(hold, policy),
        }
        for hold in lost
    ]
    others = HeldOrder.objects.filter(pk__in=result.held_by_other_blocks[:SHOWN_ON_RECHECK_PAGE])
    new_orders = Order.objects.filter(order_id__in=result.newly_matching[:SHOWN_ON_RECHECK_PAGE])
    return {
        "recheck": result,
        "lost_rows": rows[:SHOWN_ON_RECHECK_PAGE],
        "lost_hold_ids": [row["hold"].pk for row in rows],
        "lost_more": max(0, len(rows) - SHOWN_ON_RECHECK_PAGE),
        "needing_second": sum(row["needs_second"] for row in rows),
        "other_holds": list(others.select_related("order").order_by("created_at", "pk")),
        "other_more": max(0, len(result.held_by_other_blocks) - SHOWN_ON_RECHECK_PAGE),
        "new_orders": list(new_orders.order_by("-first_seen_at")),
        "new_more": max(0, len(result.newly_matching) - SHOWN_ON_RECHECK_PAGE),
        "recheck_days": RECENT_DAYS,
    }


def _percent(rate: float | None) -> str:
    return "none decided" if rate is None else f"{rate * 100:.0f} %"


def _duration(seconds: float | None) -> str:
    """A time to decision as a reviewer reads it: 45 s, 12 min, 3 h 20 min, 2 d 4 h."""
    if seconds is None:
        return "none decided"
    minutes, hours = seconds / 60, seconds / 3600
    if seconds < 60:
        return f"{seconds:.0f} s"
    if minutes < 60:
        return f"{minutes:.0f} min"
    if hours < 24:
        return f"{int(hours)} h {int(minutes % 60)} min"
    return f"{int(hours // 24)} d {int(hours % 24)} h"


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- The review queue --------------------------------------------------------------------------


class DecisionForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        strip=True,
        help_text="Required. Kept in the audit trail and sent downstream with the decision.",
    )


def open_hold_after(hold: HeldOrder) -> HeldOrder | None:
    """The open hold a reviewer takes next: the queue's order (oldest first), after this one,
    or the oldest other one when this was the last."""
    queue = HeldOrder.objects.filter(status=HoldStatus.HELD).exclude(pk=hold.pk)
    later = queue.filter(
        Q(created_at__gt=hold.created_at) | Q(created_at=hold.created_at, pk__gt=hold.pk)
    )
    return later.order_by("created_at", "pk").first() or queue.order_by("created_at", "pk").first()


def open_hold_before(hold: HeldOrder) -> HeldOrder | None:
    queue = HeldOrder.objects.filter(status=HoldStatus.HELD).exclude(pk=hold.pk)
    earlier = queue.filter(
        Q(created_at__lt=hold.created_at) | Q(created_at=hold.created_at, pk__lt=hold.pk)
    )
    return earlier.order_by("-created_at", "-pk").first()


# The bulk confirmation page lists this many of the chosen holds; the decision takes them all.
SHOWN_ON_BULK_PAGE = 200


@admin.register(HeldOrder)
class HeldOrderAdmin(ReadOnlyAdmin):
    list_display = ("order_link", "status_badge", "age", "amount_display", "customer_id",
                    "block_label", "reasons_short")  # fmt: skip
    list_display_links = None
    list_filter = (
        "status",
        admin_filters.TrafficFilter,
        admin_filters.ReviewStateFilter,
        admin_filters.HoldBlockFilter,
        admin_filters.HoldProviderFilter,
        admin_filters.HoldEndpointFilter,
        admin_filters.HoldEnvironmentFilter,
        admin_filters.AmountFilter,
        admin_filters.AgeFilter,
    )
    search_fields = ("order__order_id",)
    search_help_text = "Exact order id, customer id or hold id."
    list_select_related = ("order", "block")
    # "held" sorts before "rejected" and "released": open holds first, oldest first, straight
    # from the (status, created_at) index.
    ordering = ("status", "created_at")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    actions = ["release_selected", "reject_selected"]
    change_form_template = "admin/rules/heldorder/change_form.html"
    change_list_template = "admin/rules/heldorder/change_list.html"

    def get_queryset(self, request):
        # Whether a release waits for a second reviewer: one index probe per listed row.
        waiting = Exists(ReleaseRequest.objects.filter(hold=OuterRef("pk")))
        return super().get_queryset(request).annotate(awaiting_second=waiting)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # The order is looked up first: an OR across a join would scan every hold, while an OR
        # of three indexed columns of this table is a bitmap of three index probes.
        orders = list(Order.objects.filter(order_id=term).values_list("pk", flat=True))
        matches = Q(pk=term) | Q(customer_id=term) | Q(order_id__in=orders)
        return queryset.filter(matches), False

    @admin.display(description="Order", ordering="order__order_id")
    def order_link(self, obj):
        url = reverse("admin:rules_heldorder_change", args=[obj.pk])
        return format_html('<a href="{}" title="{}">{}</a>', url, obj.pk, obj.order.order_id)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return format_html("{}{}", self._status_badge(obj), test_badge(obj.is_test))

    def _status_badge(self, obj):
        if obj.status == HoldStatus.HELD and getattr(obj, "awaiting_second", False):
            return format_html(
                '<span class="hd-badge awaiting" title="{}">awaiting 2nd reviewer</span>',
                "A reviewer released it; a second, different reviewer must confirm.",
            )
        return format_html('<span class="hd-badge {}">{}</span>', obj.status, obj.status)

    @admin.display(description="Age", ordering="created_at")
    def age(self, obj):
        return timesince(obj.created_at, obj.decided_at or timezone.now())

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj):
        if obj.amount is None:
            return "-"
        return f"{obj.amount:,.2f} {obj.currency}".strip()

    @admin.display(description="Block")
    def block_label(self, obj):
        if obj.block_id:
            return obj.block.name
        return f"upstream {obj.upstream_block_id}".strip()

    @admin.display(description="Reasons")
    def reasons_short(self, obj):
        """The reasons without the block's name, which the Block column shows; the full text
        on hover, two lines at most on the page."""
        reasons = list(obj.reasons)
        if obj.block_id and reasons and reasons[0].startswith(f"{obj.block.name}: "):
            reasons[0] = reasons[0].removeprefix(f"{obj.block.name}: ")
        text = "; ".join(reasons)
        return format_html('<span class="hd-reasons" title="{}">{}</span>', text, text)

    def has_decide_permission(self, request, obj=None):
        return request.user.has_perm(DECIDE_PERMISSION)

    # --- Decisions --------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="rules_heldorder_decide",
            ),
            path(
                "<path:object_id>/evidence/",
                self.admin_site.admin_view(self.evidence_view),
                name="rules_heldorder_evidence",
            ),
            *super().get_urls(),
        ]

    def decide_view(self, request, object_id):
        hold = get_object_or_404(HeldOrder, pk=object_id)
        back = HttpResponseRedirect(reverse("admin:rules_heldorder_change", args=[hold.pk]))
        if request.method != "POST":
            return back
        if not self.has_decide_permission(request):
            raise PermissionDenied
        decision = request.POST.get("decision", "")
        reason = request.POST.get("reason", "")
        if decision == "confirm":
            reason = reason or ""
        elif not reason.strip():
            self.message_user(request, "A reason is required.", messages.ERROR)
            return back
        try:
            outcome = hold_decide(hold=hold, actor=request.user, decision=decision, reason=reason)
        except (RuleError, HoldConflict) as error:
            self.message_user(request, str(error), messages.ERROR)
            return back
        self.message_user(request, f"Hold {hold.pk} (order {hold.order.order_id}): {outcome}.")
        return back

    def has_evidence_permission(self, request) -> bool:
        return request.user.has_perms(EVIDENCE_PERMISSIONS)

    def evidence_view(self, request, object_id):
        """The hold's evidence package (rules.evidence), as a file to keep."""
        if not self.has_evidence_permission(request):
            raise PermissionDenied
        hold = get_object_or_404(HeldOrder, pk=object_id)
        response = JsonResponse(hold_evidence(hold=hold, actor=request.user),
                                json_dumps_params={"ensure_ascii": False, "indent": 1})  # fmt: skip
        response["Content-Disposition"] = f'attachment; filename="evidence-{hold.pk}.json"'
        return response

    def _bulk(self, request, queryset, decision: str):
        form = DecisionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            ids = list(
                queryset.order_by("created_at").values_list("pk", flat=True)[: MAX_BULK_HOLDS + 1]
            )
            try:
                outcomes, queued = bulk_decide(
                    hold_ids=ids,
                    actor=request.user,
                    decision=decision,
                    reason=form.cleaned_data["reason"],
                    seconds=settings.HOOKDESK["BULK_DECISION_WAIT_SECONDS"],
                )
            except RuleError as error:
                self.message_user(request, str(error), messages.ERROR)
                return None
            summary = ", ".join(f"{count} {outcome}" for outcome, count in outcomes.items())
            if queued:
                summary = (summary + "; " if summary else "") + (
                    f"{queued} more are being decided in the background (the queue and the "
                    "audit trail show them as they land)"
                )
            self.message_user(request, f"{decision.capitalize()}: {summary}.")
            return None
        holds = list(queryset.select_related("order")[:SHOWN_ON_BULK_PAGE])
        total = len(holds) if len(holds) < SHOWN_ON_BULK_PAGE else queryset.count()
        waiting = set(
            ReleaseRequest.objects.filter(hold__in=holds).values_list("hold_id", flat=True)
        )
        policy = review_policy()
        rows = [
            {
                "hold": hold,
                "awaiting_second": hold.pk in waiting,
                "needs_second": decision == "release"
                and hold.pk not in waiting
                and hold_needs_second_reviewer(hold, policy),
            }
            for hold in holds
        ]
        return TemplateResponse(
            request,
            "admin/rules/heldorder/decide_bulk.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{decision.capitalize()} {total:,} held order(s)",
                "total": total,
                "more": total - len(holds),
                "opts": self.opts,
                "holds": holds,
                "rows": rows,
                "needing_second": sum(row["needs_second"] for row in rows),
                "confirming": sum(row["awaiting_second"] for row in rows)
                if decision == "release"
                else 0,
                "decision": decision,
                "form": form,
                "action": f"{decision}_selected",
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "select_across": request.POST.get("select_across", "0"),
            },
        )

    @admin.action(description="Release selected held orders…", permissions=["decide"])
    def release_selected(self, request, queryset):
        return self._bulk(request, queryset, "release")

    @admin.action(description="Reject selected held orders…", permissions=["decide"])
    def reject_selected(self, request, queryset):
        return self._bulk(request, queryset, "reject")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        hold = (
            HeldOrder.objects.select_related("order", "block", "event", "event__endpoint")
            .filter(pk=object_id)
            .first()
        )
        extra = dict(extra_context or {})
        if hold is not None:
            request_ = ReleaseRequest.objects.filter(hold=hold).select_related("requested_by")
            pending = request_.first() if hold.status == HoldStatus.HELD else None
            extra.update(
                hold=hold,
                can_decide=self.has_decide_permission(request) and hold.status == HoldStatus.HELD,
                can_download_evidence=self.has_evidence_permission(request),
                pending_release=pending,
                can_confirm=bool(pending) and pending.requested_by_id != request.user.pk,
                four_eyes=hold_needs_second_reviewer(hold),
                four_eyes_amount=review_policy().four_eyes_amount,
                timeline=order_timeline(order_id=hold.order.order_id),
                held_by=hold_held_by(hold),
                amount_change=hold_amount_change(hold),
                customer_orders_url=customer_orders_url(hold.order.customer_id),
                audit_trail=order_audit_trail(
                    order_id=hold.order.order_id,
                    hold_ids=list(hold.order.holds.values_list("pk", flat=True)),
                ),
                decision_form=DecisionForm(),
                signals=sorted(hold.signals.items()),
                next_hold=open_hold_after(hold),
                previous_hold=open_hold_before(hold),
            )
        return super().change_view(request, object_id, form_url, extra)


@admin.register(ReviewPolicy)
class ReviewPolicyAdmin(admin.ModelAdmin):
    """One row: the changelist opens it directly."""

    fields = ("four_eyes_amount", "updated_at", "updated_by")
    readonly_fields = ("updated_at", "updated_by")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        ReviewPolicy.objects.get_or_create(pk=1)
        return HttpResponseRedirect(reverse("admin:rules_reviewpolicy_change", args=[1]))

    def save_model(self, request, obj, form, change):
        try:
            saved = review_policy_set(
                four_eyes_amount=form.cleaned_data["four_eyes_amount"], actor=request.user
            )
        except RuleError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        obj.pk = saved.pk


class CustomerFilter(admin.SimpleListFilter):
    """One customer's orders, by exact id (?customer_id=…), as the order and hold pages link
    to them; served by the order_customer_seen index. It offers no list of customers: that
    would read the whole table. Shown only while it filters, with All to clear it."""

    title = "customer"
    parameter_name = "customer_id"

    def lookups(self, request, model_admin):
        return [(self.value(), self.value())] if self.value() else []

    def queryset(self, request, queryset):
        return queryset.filter(customer_id=self.value()) if self.value() else queryset


def customer_orders_url(customer_id: str) -> str:
    """The Orders list of one customer, or "" when the customer is unknown."""
    if not customer_id:
        return ""
    return reverse("admin:rules_order_changelist") + "?" + urlencode({"customer_id": customer_id})


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "customer_id", "amount", "currency", "first_seen_at")
    list_filter = (CustomerFilter,)
    search_fields = ("order_id",)
    search_help_text = "Exact order id or customer id."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    show_facets = admin.ShowFacets.NEVER
    change_form_template = "admin/rules/order/change_form.html"
    # The order page lists this many of the order's events, newest first.
    events_shown = 50
    # Counting a customer's other orders stops here (plain_capped: "more than 1,000").
    other_orders_cap = 1000

    def get_search_results(self, request, queryset, search_term):
        fields = ("order_id", "customer_id")
        return exact_search(queryset, search_term, fields), False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if order is not None:
            waiting = Exists(ReleaseRequest.objects.filter(hold=OuterRef("pk")))
            holds = order.holds.select_related("block", "event").annotate(awaiting_second=waiting)
            events = list(
                Event.objects.filter(order_id=order.order_id)
                .select_related("endpoint")
                .defer("body", "headers")
                .order_by("-received_at", "-id")[: self.events_shown + 1]
            )
            others = Order.objects.filter(customer_id=order.customer_id).exclude(pk=order.pk)
            extra.update(
                order=order,
                holds=[(hold, hold_held_by(hold)) for hold in holds.order_by("-created_at")],
                events=events[: self.events_shown],
                more_events=len(events) > self.events_shown,
                events_shown=self.events_shown,
                timeline=order_timeline(order_id=order.order_id),
                customer_orders_url=customer_orders_url(order.customer_id),
                other_orders=others[: self.other_orders_cap + 1].count()
                if order.customer_id
                else 0,
                other_orders_cap=self.other_orders_cap,
            )
        return super().change_view(request, object_id, form_url, extra)


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("event", "block", "action", "shadow", "order_id", "created_at")
    list_filter = ("action", "shadow", "block")
    list_select_related = ("event", "block")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    show_facets = admin.ShowFacets.NEVER


@admin.register(RiskListEntry)
class RiskListEntryAdmin(admin.ModelAdmin):
    list_display = ("list_name", "value", "label", "added_at")
    list_filter = ("list_name",)
    search_fields = ("value", "label")


# --- Backtest runs -----------------------------------------------------------------------------


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "block", "block_version", "since", "until", "status",
                    "progress", "matched", "created_by")  # fmt: skip
    list_filter = ("status",)
    list_select_related = ("block", "created_by")
    change_form_template = "admin/rules/backtestrun/progress.html"

    @admin.display(description="Done")
    def progress(self, obj):
        return f"{obj.done} / {obj.total if obj.total is not None else '…'}"

    @admin.display(description="Orders matched")
    def matched(self, obj):
        return obj.result.get("orders_matched", 0)

    def get_urls(self):
        return [
            path(
                "<uuid:pk>/progress.json",
                self.admin_site.admin_view(self.progress_json),
                name="rules_backtestrun_progress",
            ),
            path(
                "<uuid:pk>/cancel/",
                self.admin_site.admin_view(require_POST(self.cancel_view)),
                name="rules_backtestrun_cancel",
            ),
            *super().get_urls(),
        ]

    def progress_json(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(BacktestRun, pk=pk)
        return JsonResponse(
            {
                "status": run.status,
                "finished": run.finished,
                "total": run.total,
                "done": run.done,
                "orders_matched": run.result.get("orders_matched", 0),
                "error": run.error,
            }
        )

    def cancel_view(self, request, pk):
        # Whoever may start a backtest may stop one.
        if not request.user.has_perm("rules.change_block"):
            raise PermissionDenied
        run = get_object_or_404(BacktestRun, pk=pk)
        if backtest_run_cancel(run=run):
            self.message_user(request, "The backtest was cancelled.")
        else:
            self.message_user(request, "The backtest had already finished.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:rules_backtestrun_change", args=[run.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra = {
            "run": run,
            "can_cancel": request.user.has_perm("rules.change_block"),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)
