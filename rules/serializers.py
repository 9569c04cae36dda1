"""API shapes of blocks, backtests, holds and orders."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rules.models import (
    BacktestRun,
    BacktestStatus,
    Block,
    BlockAction,
    BlockStatus,
    HeldOrder,
    Order,
)
from webhooks.providers.base import storable_json


class HoldSerializer(serializers.ModelSerializer):
    order_id = serializers.CharField(source="order.order_id")
    block_id = serializers.CharField(source="public_block_id", allow_null=True)
    event = serializers.CharField(source="event_id")
    reviewer = serializers.SerializerMethodField()
    reason = serializers.CharField(source="decision_reason")
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)

    class Meta:
        model = HeldOrder
        fields = [
            "id",
            "order_id",
            "status",
            "amount",
            "currency",
            "customer_id",
            "block_id",
            "block_version",
            "source",
            "reasons",
            "signals",
            "event",
            "finance_note",
            "created_at",
            "decided_at",
            "reviewer",
            "reason",
            "outcome",
        ]

    def get_reviewer(self, hold) -> str | None:
        return hold.reviewer.get_username() if hold.reviewer else None


class DecisionInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=True, allow_blank=False, max_length=2000, trim_whitespace=True
    )
    outcome = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=20,
        help_text="release: verified, false_positive or other; reject: confirmed_fraud, "
        "policy, customer_cancelled or other.",
    )


class OrderEventSerializer(serializers.Serializer):
    id = serializers.CharField()
    event_type = serializers.CharField()
    status = serializers.CharField()
    received_at = serializers.DateTimeField()
    endpoint = serializers.CharField(source="endpoint.slug")


class OrderSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    hold = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)

    class Meta:
        model = Order
        fields = [
            "order_id",
            "status",
            "hold",
            "events",
            "customer_id",
            "amount",
            "currency",
            "ship_to_country",
            "bill_to_country",
            "payment_method",
            "metadata",
            "first_seen_at",
        ]

    def _latest_hold(self, order) -> HeldOrder | None:
        return (
            order.holds.select_related("order", "block", "reviewer").order_by("-created_at").first()
        )

    def get_status(self, order) -> str:
        hold = self._latest_hold(order)
        return hold.status if hold else "clear"

    def get_hold(self, order) -> dict | None:
        hold = self._latest_hold(order)
        return HoldSerializer(hold).data if hold else None

    def get_events(self, order) -> list[dict]:
        from webhooks.models import Event

        events = Event.objects.filter(order_id=order.order_id).select_related("endpoint")
        return OrderEventSerializer(events.order_by("received_at")[:200], many=True).data


def storable_metadata(value: dict) -> dict:
    """PostgreSQL's jsonb refuses NUL and lone surrogates: a 400, not a failed write."""
    if not storable_json(value):
        raise serializers.ValidationError("metadata contains characters that cannot be stored")
    return value


class OrderPatchSerializer(serializers.Serializer):
    metadata = serializers.DictField(required=True, validators=[storable_metadata])


class BlockSerializer(serializers.ModelSerializer):
    action = serializers.ChoiceField(choices=BlockAction.choices, default=BlockAction.HOLD)
    status = serializers.ChoiceField(choices=BlockStatus.choices, default=BlockStatus.ACTIVE)
    event_types = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    metadata = serializers.DictField(required=False, validators=[storable_metadata])

    class Meta:
        model = Block
        fields = [
            "block_id",
            "name",
            "condition",
            "action",
            "metadata",
            "status",
            "priority",
            "event_types",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["block_id", "version", "created_at", "updated_at"]


class BlockVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    snapshot = serializers.DictField()
    changed_by = serializers.CharField(source="changed_by_label")
    changed_at = serializers.DateTimeField()


class BacktestInputSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, allow_null=True)
    until = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since >= until:
            raise serializers.ValidationError("since must be before until")
        return attrs


class BacktestOutcomesSerializer(serializers.Serializer):
    """What became of the orders the block matched, by each order's latest hold (any block's
    or upstream's): still open, released, rejected, or never held at all."""

    rejected = serializers.IntegerField()
    released = serializers.IntegerField()
    open = serializers.IntegerField()
    never_held = serializers.IntegerField()


class BacktestResultSerializer(serializers.Serializer):
    """What a block would have held: `BacktestResult.as_json()` and the run it came from."""

    id = serializers.UUIDField(help_text="The backtest run: GET /api/v2/backtests/<id>/.")
    block_id = serializers.CharField()
    action = serializers.ChoiceField(choices=BlockAction.choices)
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    events_evaluated = serializers.IntegerField()
    orders_matched = serializers.IntegerField()
    would_hold = serializers.IntegerField()
    total_value = serializers.CharField(help_text="A decimal, as a string.")
    sample = serializers.ListField(child=serializers.DictField())
    truncated = serializers.BooleanField()
    outcomes = BacktestOutcomesSerializer()


class BlockStatsQuerySerializer(serializers.Serializer):
    """The period, as query parameters; `rules.block_stats.stats_period_parse` reads them."""

    since = serializers.CharField(
        required=False, help_text="ISO 8601 date or date and time. Default: 30 days before until."
    )
    until = serializers.CharField(required=False, help_text="Exclusive. Default: now.")


class BlockStatsDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    open = serializers.IntegerField()
    released = serializers.IntegerField()
    rejected = serializers.IntegerField()


class BlockStatsSerializer(serializers.Serializer):
    """`rules.block_stats.BlockStats.as_json()`: a block's holds created in [since, until)."""

    holds = serializers.IntegerField()
    open = serializers.IntegerField()
    released = serializers.IntegerField()
    rejected = serializers.IntegerField()
    reject_rate = serializers.FloatField(
        allow_null=True, help_text="rejected / (released + rejected); null when none decided."
    )
    median_seconds_to_decision = serializers.FloatField(allow_null=True)
    shadow_matches = serializers.IntegerField(
        help_text="Shadow decisions the block recorded in the period."
    )
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    per_day = BlockStatsDaySerializer(many=True)


class BacktestProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Events evaluated so far.")
    total = serializers.IntegerField(
        allow_null=True, help_text="Events in the period; null until counted."
    )


class BacktestRunAcceptedSerializer(serializers.Serializer):
    """A run still going: follow `url`."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=BacktestStatus.choices)
    progress = BacktestProgressSerializer(source="*")
    url = serializers.SerializerMethodField()

    def get_url(self, run) -> str:
        return reverse("backtest-detail", kwargs={"pk": run.pk})


class BacktestRunSerializer(BacktestRunAcceptedSerializer):
    block_id = serializers.CharField(source="block.block_id")
    block_version = serializers.IntegerField()
    condition = serializers.CharField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    error = serializers.CharField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    result = serializers.SerializerMethodField(
        help_text="The backtest's result (as POST …/backtest/ answers it) once done; else null."
    )

    def get_created_by(self, run) -> str | None:
        return run.created_by.get_username() if run.created_by else None

    @extend_schema_field(BacktestResultSerializer(allow_null=True))
    def get_result(self, run) -> dict | None:
        if run.status != BacktestStatus.DONE:
            return None
        return backtest_run_result(run)


def backtest_run_result(run: BacktestRun) -> dict:
    """A finished run's answer: its result with the run's id."""
    return {"id": str(run.pk), **run.result}


class RecheckInputSerializer(serializers.Serializer):
    """An unsaved edit to preview; both optional (none: the block as saved). The values are
    checked as a save would check them (rules.recheck.block_candidate)."""

    condition = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=100_000
    )
    status = serializers.CharField(required=False, allow_blank=True, max_length=20)


class RecheckHoldsSerializer(serializers.Serializer):
    open = serializers.IntegerField(help_text="Open holds the block made.")
    examined = serializers.IntegerField()
    capped = serializers.BooleanField(help_text="More open holds than were examined.")


class RecheckOrdersSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Recent: a processed event received since.")
    examined = serializers.IntegerField(help_text="Recent clear orders examined.")
    capped = serializers.BooleanField(help_text="More recent clear orders than were examined.")


class RecheckResultSerializer(serializers.Serializer):
    """`rules.recheck.RecheckResult.as_json()`."""

    no_longer_matching = serializers.ListField(
        child=serializers.CharField(),
        help_text="Open holds of this block that nothing would hold any more (hold ids).",
    )
    newly_matching = serializers.ListField(
        child=serializers.CharField(),
        help_text="Recent clear orders this block would now hold (order ids).",
    )
    held_by_other_blocks = serializers.ListField(
        child=serializers.CharField(),
        help_text="Open holds of this block it would no longer hold but another block (or an "
        "upstream hold) still would (hold ids).",
    )
    block_id = serializers.CharField()
    condition = serializers.CharField(help_text="The condition re-checked.")
    status = serializers.CharField(help_text="The status re-checked.")
    holds = RecheckHoldsSerializer()
    orders = RecheckOrdersSerializer()
    truncated = serializers.BooleanField(help_text="A bound was reached: see holds and orders.")
