"""List-filter building blocks for the admin's big tables.

Every choice list comes from a small table or a fixed set: a DISTINCT over a million rows on
each page view is what these replace."""

from datetime import datetime, timedelta

from django.contrib import admin
from django.utils import timezone

RECENT_CHOICES = (
    ("1h", "Last hour", timedelta(hours=1)),
    ("24h", "Last 24 hours", timedelta(hours=24)),
    ("7d", "Last 7 days", timedelta(days=7)),
    ("30d", "Last 30 days", timedelta(days=30)),
)


def recent_since(code: str | None, now: datetime | None = None) -> datetime | None:
    for value, _label, span in RECENT_CHOICES:
        if value == code:
            return (now or timezone.now()) - span
    return None


class ParamFilter(admin.SimpleListFilter):
    """A filter whose choices come from a fixed set or a small table."""

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.lookup: value}) if value else queryset


class ReceivedFilter(admin.SimpleListFilter):
    title = "received"
    parameter_name = "received"
    field = "received_at"

    def lookups(self, request, model_admin):
        return [(value, label) for value, label, _ in RECENT_CHOICES]

    def queryset(self, request, queryset):
        since = recent_since(self.value())
        return queryset.filter(**{f"{self.field}__gte": since}) if since else queryset
