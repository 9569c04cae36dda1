"""A block's statistics over a period, judged by what reviewers decided about its holds: how many
it made, how many are still open, released or rejected, its reject rate, the median time to a
decision, how often it matched in shadow mode, and its holds per day by outcome.

Every figure is an aggregate over an index (`hold_block_created`, `decision_block_created`):
the cost grows with the number of days in the period, not with the number of holds."""

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connections
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, FloatField, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from core.errors import Invalid
from rules.models import Block, Decision, HeldOrder, HoldStatus

DEFAULT_PERIOD = timedelta(days=30)
# A per-day series longer than this is no chart any more, and the period is most likely a typo.
MAX_PERIOD = timedelta(days=366)
OUTCOMES = (HoldStatus.HELD, HoldStatus.RELEASED, HoldStatus.REJECTED)
# The API's and the chart's names for a hold's status: a hold that is still held is open.
OUTCOME_NAMES = {HoldStatus.HELD: "open", HoldStatus.RELEASED: "released",
                 HoldStatus.REJECTED: "rejected"}  # fmt: skip


class StatsPeriodError(Invalid):
    """A period the statistics cannot be computed over."""


@dataclass(frozen=True)
class DayCounts:
    """One day's holds (by hold creation, in the current time zone), by outcome."""

    day: date
    open: int = 0
    released: int = 0
    rejected: int = 0

    def as_json(self) -> dict:
        return {"day": self.day.isoformat(), "open": self.open, "released": self.released,
                "rejected": self.rejected}  # fmt: skip


@dataclass(frozen=True)
class BlockStats:
    """What `block_stats` answers. `reject_rate` and `median_seconds_to_decision` are None when
    no hold of the period has been decided."""

    since: datetime
    until: datetime
    holds: int
    open: int
    released: int
    rejected: int
    reject_rate: float | None
    median_seconds_to_decision: float | None
    shadow_matches: int
    per_day: list[DayCounts] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "holds": self.holds,
            "open": self.open,
            "released": self.released,
            "rejected": self.rejected,
            "reject_rate": self.reject_rate,
            "median_seconds_to_decision": self.median_seconds_to_decision,
            "shadow_matches": self.shadow_matches,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "per_day": [day.as_json() for day in self.per_day],
        }


class Median(Aggregate):
    """PostgreSQL's continuous median of a duration, in seconds."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM %(expressions)s))"
    output_field = FloatField()


_DECIDED = Q(status__in=[HoldStatus.RELEASED, HoldStatus.REJECTED], decided_at__isnull=False)
_TIME_TO_DECISION = ExpressionWrapper(F("decided_at") - F("created_at"), DurationField())


def block_stats(*, block: Block, since: datetime, until: datetime) -> BlockStats:
    """`block`'s statistics over the holds it created in [since, until), whatever the block's
    version when it held (test holds count: they are holds the block made), and its shadow
    matches recorded in that period."""
    holds = block_holds(block=block, since=since, until=until)
    counts = _outcome_counts(holds)
    decided = counts["released"] + counts["rejected"]
    return BlockStats(
        since=since,
        until=until,
        holds=counts["holds"],
        open=counts["open"],
        released=counts["released"],
        rejected=counts["rejected"],
        reject_rate=counts["rejected"] / decided if decided else None,
        median_seconds_to_decision=median_seconds_to_decision(holds),
        shadow_matches=_shadow_matches(block=block, since=since, until=until),
        per_day=holds_per_day(holds, since=since, until=until),
    )


def block_holds(*, block: Block, since: datetime, until: datetime):
    """The holds `block` created in [since, until): a range over `hold_block_created`."""
    return HeldOrder.objects.filter(block=block, created_at__gte=since, created_at__lt=until)


def _outcome_counts(holds) -> dict[str, int]:
    """All the counts in one aggregate query."""
    by_outcome = {
        OUTCOME_NAMES[status]: Count("pk", filter=Q(status=status)) for status in OUTCOMES
    }
    return holds.order_by().aggregate(holds=Count("pk"), **by_outcome)


def median_seconds_to_decision(holds) -> float | None:
    """The median of decided_at - created_at over the decided holds of `holds`, in seconds."""
    decided = holds.filter(_DECIDED).order_by()
    if connections[decided.db].vendor == "postgresql":
        return decided.aggregate(median=Median(_TIME_TO_DECISION))["median"]
    return median_seconds_in_python(decided)


def median_seconds_in_python(decided) -> float | None:
    """The same median where the database has no percentile_cont (SQLite, in development)."""
    seconds = [
        (decided_at - created_at).total_seconds()
        for created_at, decided_at in decided.values_list("created_at", "decided_at")
    ]
    return float(statistics.median(seconds)) if seconds else None


def _shadow_matches(*, block: Block, since: datetime, until: datetime) -> int:
    """Shadow decisions recorded for `block` in [since, until): `decision_block_created`."""
    return Decision.objects.filter(
        block=block, shadow=True, created_at__gte=since, created_at__lt=until
    ).count()


def holds_per_day(holds, *, since: datetime, until: datetime) -> list[DayCounts]:
    """`holds` counted per day of creation (in the current time zone) and outcome: one grouped
    query, with every day of the period present, zero when nothing was held."""
    zone = timezone.get_current_timezone()
    rows = (
        holds.order_by()
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day", "status")
        .annotate(n=Count("pk"))
    )
    counts: dict[date, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["day"], {})[OUTCOME_NAMES[row["status"]]] = row["n"]
    return [DayCounts(day=day, **counts.get(day, {})) for day in _days(since, until, zone)]


def _days(since: datetime, until: datetime, zone) -> list[date]:
    first = timezone.localtime(since, zone).date()
    last = timezone.localtime(until - timedelta(microseconds=1), zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# --- The period, from what a caller typed ---------------------------------------------------------


def stats_period(
    *, since: datetime | None, until: datetime | None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """[since, until): up to now unless `until` is given, over the 30 days before `until`
    unless `since` is given. Refuses an empty or reversed period, and one over 366 days."""
    until = until or now or timezone.now()
    since = since or until - DEFAULT_PERIOD
    if since >= until:
        raise StatsPeriodError("since must be before until", field="since")
    if until - since > MAX_PERIOD:
        raise StatsPeriodError("the period is longer than 366 days", field="since")
    return since, until


def stats_moment_parse(value: str | None, *, name: str) -> datetime | None:
    """An ISO 8601 date and time (a time without a zone is in the current time zone), or a
    date, which means its midnight. None for an empty value."""
    if not value:
        return None
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime.combine(day, time.min)
    except ValueError:  # well-formed but impossible, such as a 31st of February
        moment = None
    if moment is None:
        raise StatsPeriodError(f"{name} is not an ISO 8601 date or date and time", field=name)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def stats_period_parse(*, since: str | None, until: str | None) -> tuple[datetime, datetime]:
    """The period named by query parameters such as `?since=2026-11-01&until=2026-12-01`."""
    return stats_period(
        since=stats_moment_parse(since, name="since"),
        until=stats_moment_parse(until, name="until"),
    )
