"""Admin building blocks every app's admin uses, and the audit trail's admin.

BigTableAdmin keeps lists of millions of rows fast; ReadOnlyMixin makes a record that is
written by services only (events, deliveries, audit entries) viewable and nothing else."""

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.utils.html import format_html

from core.display import pretty_json
from core.models import AuditEntry
from core.pagination import EstimatedCountPaginator
from core.queries import exact_search


class PageFiguresChangeList(ChangeList):
    """A change list that hands the rows of its page to `model_admin.page_figures(rows)` once
    they are read, so figures about each row shown cost one query per page, not one per row."""

    def get_results(self, request):
        super().get_results(request)
        self.model_admin.page_figures(self.result_list)


class BigTableAdmin(admin.ModelAdmin):
    """Lists of millions of rows: no full COUNT(*), no facet counts, no date drill-down
    (each is a scan of the whole table on every page view)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    exact_search_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        if not self.exact_search_fields:
            return super().get_search_results(request, queryset, search_term)
        return exact_search(queryset, search_term, self.exact_search_fields), False


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def pre_block(value) -> str:
    return format_html('<pre class="hd-pre">{}</pre>', pretty_json(value))


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyMixin, BigTableAdmin):
    list_display = ("at", "actor_label", "action", "object_type", "object_id", "order_id", "reason")
    list_filter = ("action",)
    search_fields = ("object_id",)
    exact_search_fields = ("object_id", "order_id", "actor_label")
    search_help_text = "Exact object id, order id or username."
    ordering = ("-at", "-id")
    fields = ("at", "actor_label", "action", "object_type", "object_id", "order_id", "reason",
              "before_pretty", "after_pretty")  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Before")
    def before_pretty(self, obj):
        return pre_block(obj.before) if obj.before is not None else "-"

    @admin.display(description="After")
    def after_pretty(self, obj):
        return pre_block(obj.after) if obj.after is not None else "-"
