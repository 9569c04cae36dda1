"""List-filter building blocks for the admin's big tables.

Every choice list comes from a small table or a fixed set: a DISTINCT over a million rows on
each page view is what these replace."""

from datetime import datetime, timedelta

from django.contrib import admin
from django.utils import timezone

from core.display import moment

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


def received_between(params) -> tuple[datetime | None, datetime | None]:
    """The absolute window of ?received_after=&received_before= (ISO times; before is
    exclusive), as the dashboard's links to an alert's window write it."""
    return (
        _moment(params.get("received_after")),
        _moment(params.get("received_before")),
    )


def _moment(value) -> datetime | None:
    if isinstance(value, list):
        value = value[-1] if value else None
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class ReceivedFilter(admin.SimpleListFilter):
    """Preset windows (last hour, day, ...), plus ?received_after= / ?received_before= for an
    absolute one."""

    title = "received"
    parameter_name = "received"
    field = "received_at"

    def __init__(self, request, params, model, model_admin):
        self.after, self.before = received_between(
            {name: params.pop(name, [None]) for name in ("received_after", "received_before")}
        )
        super().__init__(request, params, model, model_admin)

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.parameter_name, "received_after", "received_before"]

    def lookups(self, request, model_admin):
        return [(value, label) for value, label, _ in RECENT_CHOICES]

    def choices(self, changelist):
        # "All" and each preset replace an absolute window (an alert's), not add to it.
        window = ("received_after", "received_before")
        yield {
            "selected": self.value() is None and not (self.after or self.before),
            "query_string": changelist.get_query_string(remove=self.expected_parameters()),
            "display": "All",
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == str(value),
                "query_string": changelist.get_query_string(
                    {self.parameter_name: value}, remove=window
                ),
                "display": label,
            }
        if self.after or self.before:
            yield {
                "selected": True,
                "query_string": changelist.get_query_string(),
                "display": f"From {moment(self.after) if self.after else 'the start'} "
                f"to {moment(self.before) if self.before else 'now'}",
            }

    def queryset(self, request, queryset):
        since = recent_since(self.value())
        if since:
            queryset = queryset.filter(**{f"{self.field}__gte": since})
        if self.after:
            queryset = queryset.filter(**{f"{self.field}__gte": self.after})
        if self.before:
            queryset = queryset.filter(**{f"{self.field}__lt": self.before})
        return queryset
