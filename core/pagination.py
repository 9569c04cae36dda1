"""A paginator for admin lists over tables of millions of rows: it never counts them all.

Unfiltered, the count is PostgreSQL's planner estimate (pg_class.reltuples), read in
microseconds. Filtered, rows are counted up to a cap (COUNT over a LIMITed subquery), so a
filter matching most of a million events costs a bounded index scan, not a full count; past
the cap the list pages up to the cap and a narrower filter finds the rest."""

from functools import cached_property

from django.core.paginator import Paginator
from django.db import connections

# A thousand rows is twenty pages: past that, a filter finds things faster than paging, and
# counting further would cost an index probe (or a join) per row on every page view.
COUNT_CAP = 1_000


def estimated_rows(queryset) -> int | None:
    """The planner's row estimate for the queryset's table, or None when there is none."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [queryset.model._meta.db_table],
        )
        row = cursor.fetchone()
    # -1 (PostgreSQL 14+) or 0 means "never analysed": count instead.
    return int(row[0]) if row and row[0] and row[0] > 0 else None


def is_unfiltered(queryset) -> bool:
    return not queryset.query.where and not queryset.query.distinct


class EstimatedCountPaginator(Paginator):
    count_cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if is_unfiltered(queryset):
            estimate = estimated_rows(queryset)
            if estimate is not None and estimate > self.count_cap:
                self.estimated = True
                return estimate
        capped = queryset.order_by()[: self.count_cap + 1].count()
        self.capped = capped > self.count_cap
        return min(capped, self.count_cap + 1) if self.capped else capped

    estimated = False
    capped = False

    @property
    def approximate(self) -> bool:
        """True when `count` is an estimate or a lower bound, not an exact figure."""
        _ = self.count
        return self.estimated or self.capped


def count_label(paginator, count: int) -> str:
    """A list's count as it may be read: "more than 1,000" when counting stopped at the cap,
    "about 1,003,518" for the planner's estimate, else the exact count."""
    if getattr(paginator, "capped", False):
        return f"more than {paginator.count_cap:,}"
    if getattr(paginator, "estimated", False):
        return f"about {count:,}"
    return f"{count:,}"
