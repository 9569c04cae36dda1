"""The review queue's filters: block, review state, provider, endpoint, environment, amount and
age of a hold."""

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.admin_filters import ParamFilter
from rules.models import Block, HoldStatus, ReleaseRequest
from webhooks.admin_filters import EndpointFilter
from webhooks.models import Environment
from webhooks.providers import provider_choices


class HoldProviderFilter(ParamFilter):
    title = "provider"
    parameter_name = "provider"
    lookup = "event__endpoint__provider"

    def lookups(self, request, model_admin):
        return provider_choices()


class HoldEndpointFilter(EndpointFilter):
    lookup = "event__endpoint__slug"


class HoldEnvironmentFilter(ParamFilter):
    title = "environment"
    parameter_name = "environment"
    lookup = "event__endpoint__environment"

    def lookups(self, request, model_admin):
        return Environment.choices


def _decimal(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value not in (None, "") else None
    except InvalidOperation:
        return None


class AmountFilter(admin.SimpleListFilter):
    """Preset bands, plus ?amount_min= / ?amount_max= for any range."""

    title = "amount"
    parameter_name = "amount"
    BANDS = (
        ("0-1000", "Up to 1,000"),
        ("1000-5000", "1,000 to 5,000"),
        ("5000-10000", "5,000 to 10,000"),
        ("10000-50000", "10,000 to 50,000"),
        ("50000-", "Over 50,000"),
    )

    def __init__(self, request, params, model, model_admin):
        self.amount_min = _decimal(params.pop("amount_min", [None])[-1])
        self.amount_max = _decimal(params.pop("amount_max", [None])[-1])
        super().__init__(request, params, model, model_admin)

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.parameter_name, "amount_min", "amount_max"]

    def lookups(self, request, model_admin):
        return self.BANDS

    def queryset(self, request, queryset):
        low, high = self.amount_min, self.amount_max
        if self.value():
            start, _, end = self.value().partition("-")
            low, high = _decimal(start), _decimal(end)
        if low is not None:
            queryset = queryset.filter(amount__gte=low)
        if high is not None:
            queryset = queryset.filter(amount__lt=high)
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    AGES = (
        ("lt1h", "Under an hour", None, timedelta(hours=1)),
        ("lt24h", "Under a day", None, timedelta(days=1)),
        ("gt24h", "Over a day", timedelta(days=1), None),
        ("gt7d", "Over a week", timedelta(days=7), None),
    )

    def lookups(self, request, model_admin):
        return [(code, label) for code, label, _, _ in self.AGES]

    def queryset(self, request, queryset):
        now = timezone.now()
        for code, _label, older_than, younger_than in self.AGES:
            if self.value() == code:
                if older_than:
                    queryset = queryset.filter(created_at__lte=now - older_than)
                if younger_than:
                    queryset = queryset.filter(created_at__gt=now - younger_than)
        return queryset


class HoldBlockFilter(admin.SimpleListFilter):
    """Each block once, by name; a name two blocks share is told apart by the block id."""

    title = "block"
    parameter_name = "block"

    def lookups(self, request, model_admin):
        blocks = list(
            Block.objects.order_by("name", "created_at").values_list("pk", "name", "block_id")
        )
        names = [name for _, name, _ in blocks]
        choices = [
            (str(pk), name if names.count(name) == 1 else f"{name} ({block_id})")
            for pk, name, block_id in blocks
        ]
        return [*choices, ("upstream", "Held upstream (no local block)")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "upstream":
            return queryset.filter(block__isnull=True)
        if value and value.isdigit():
            return queryset.filter(block_id=int(value))
        return queryset


class ReviewStateFilter(admin.SimpleListFilter):
    """Where a hold stands in review: open, waiting for a second reviewer's confirmation, or
    decided."""

    title = "review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [
            ("awaiting_second", "Waiting for a second reviewer"),
            ("open", "Open, no release asked for yet"),
        ]

    def queryset(self, request, queryset):
        waiting = Exists(ReleaseRequest.objects.filter(hold=OuterRef("pk")))
        if self.value() == "awaiting_second":
            return queryset.filter(waiting, status=HoldStatus.HELD)
        if self.value() == "open":
            return queryset.filter(~waiting, status=HoldStatus.HELD)
        return queryset


class TrafficFilter(admin.SimpleListFilter):
    """Real holds unless a reviewer asks for test traffic: holds made by test events (Send test
    event, send_test_webhook, the test API) stay out of the review queue by default."""

    title = "traffic"
    parameter_name = "traffic"

    def lookups(self, request, model_admin):
        return [("test", "Test"), ("all", "All")]

    def choices(self, changelist):
        # "Real" is the default, so it takes the place of the admin's "All" (no parameter).
        value = self.value()
        yield {
            "selected": value is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Real (default)",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() == "test":
            return queryset.filter(is_test=True)
        if self.value() == "all":
            return queryset
        return queryset.filter(is_test=False)
