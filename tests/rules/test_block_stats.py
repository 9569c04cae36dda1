"""A block's statistics from a known history of holds and decisions: counts by outcome, the
reject rate, the median time to decision, shadow matches and holds per day; the API's exact
shape, its default period and its 400s; the block's admin page with its chart."""

import re
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from rules.block_stats import (
    StatsPeriodError,
    block_holds,
    block_stats,
    median_seconds_in_python,
    median_seconds_to_decision,
    stats_period,
    stats_period_parse,
)
from rules.models import Decision, HeldOrder, HoldStatus
from rules.services import block_create, hold_reject, hold_release
from tests.admin.conftest import browser, console, roles, staff  # noqa: F401  fixtures
from tests.support.events import deliver, process, procureiq

pytestmark = pytest.mark.django_db

STATS_KEYS = {"holds", "open", "released", "rejected", "reject_rate",
              "median_seconds_to_decision", "shadow_matches"}  # fmt: skip


def local_midnight(days_ago: int) -> datetime:
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


# The period every test reads: the ten whole local days before today.
SINCE, UNTIL = local_midnight(10), local_midnight(0)


@pytest.fixture
def block(db):
    return block_create(name="Over 5000", condition="order_value > 5000", priority=1)


@pytest.fixture
def shadow_block(db):
    return block_create(name="Shadow over 5000", condition="order_value > 5000", status="shadow")


@pytest.fixture
def hold(make_endpoint, people):
    """hold(created_at, "rejected", seconds_to_decision) -> a hold the live blocks made for a
    delivered and processed order, moved to `created_at` and decided by a reviewer."""
    endpoint = make_endpoint("procureiq")
    numbers = iter(range(1, 1000))

    def make(created_at: datetime, outcome: str = "open", seconds: float | None = None):
        order_id = f"ord_stats_{next(numbers)}"
        payload = {"orderId": order_id, "userId": f"u_{order_id}", "totalAmount": 6000}
        event = deliver(*endpoint, procureiq("order.created", payload))
        process(event)
        made = HeldOrder.objects.get(event=event)
        decide = {"rejected": hold_reject, "released": hold_release}.get(outcome)
        if decide:
            made = decide(hold=made, actor=people["alice"], reason=f"{outcome} in the test")
        decided_at = created_at + timedelta(seconds=seconds) if seconds is not None else None
        HeldOrder.objects.filter(pk=made.pk).update(
            created_at=created_at, decided_at=decided_at if decide else None
        )
        Decision.objects.filter(event=event).update(created_at=created_at)
        made.refresh_from_db()
        return made

    return make


@pytest.fixture
def history(block, hold):
    """Inside the period: released after 60 s, rejected after 120 s, 600 s and 1000 s, two
    open; outside it: a rejected hold before `since`, an open one at `until` (exclusive)."""
    hold(SINCE, "released", 60)  # the first instant of the period counts
    hold(SINCE + timedelta(days=2, hours=3), "rejected", 120)
    hold(SINCE + timedelta(days=2, hours=5), "rejected", 600)
    hold(SINCE + timedelta(days=6), "rejected", 1000)
    hold(SINCE + timedelta(days=6, hours=1), "open")
    hold(UNTIL - timedelta(seconds=1), "open")
    hold(SINCE - timedelta(seconds=1), "rejected", 5)
    hold(UNTIL, "open")
    return block


def test_it_counts_a_blocks_holds_by_outcome_within_the_period(history):
    stats = block_stats(block=history, since=SINCE, until=UNTIL)
    assert (stats.holds, stats.open, stats.released, stats.rejected) == (6, 2, 1, 3)
    assert stats.reject_rate == pytest.approx(3 / 4)


def test_it_takes_the_continuous_median_of_the_time_to_decision(history):
    stats = block_stats(block=history, since=SINCE, until=UNTIL)
    # 60, 120, 600, 1000: the mean of the middle two, as percentile_cont interpolates.
    assert stats.median_seconds_to_decision == pytest.approx(360.0)


def test_it_computes_the_same_median_in_python_where_there_is_no_percentile_cont(history):
    holds = block_holds(block=history, since=SINCE, until=UNTIL)
    decided = holds.filter(status__in=[HoldStatus.RELEASED, HoldStatus.REJECTED])
    assert median_seconds_in_python(decided) == median_seconds_to_decision(holds) == 360.0


def test_it_answers_no_reject_rate_and_no_median_when_nothing_was_decided(block, hold):
    hold(SINCE + timedelta(days=1), "open")
    hold(SINCE + timedelta(days=3), "open")
    hold(SINCE - timedelta(days=1), "rejected", 30)  # decided, but before the period
    stats = block_stats(block=block, since=SINCE, until=UNTIL)
    assert (stats.holds, stats.open, stats.released, stats.rejected) == (2, 2, 0, 0)
    assert stats.reject_rate is None
    assert stats.median_seconds_to_decision is None


def test_it_counts_only_the_blocks_own_holds(history):
    other = block_create(name="Over 1", condition="order_value > 1", priority=50)
    stats = block_stats(block=other, since=SINCE, until=UNTIL)
    assert (stats.holds, stats.reject_rate, stats.shadow_matches) == (0, None, 0)


def test_it_counts_shadow_matches_recorded_in_the_period(block, shadow_block, hold):
    for created_at in (SINCE, SINCE + timedelta(days=4), UNTIL, SINCE - timedelta(hours=1)):
        hold(created_at, "open")
    assert block_stats(block=shadow_block, since=SINCE, until=UNTIL).shadow_matches == 2
    shadow = block_stats(block=shadow_block, since=SINCE, until=UNTIL)
    assert (shadow.holds, shadow.open) == (0, 0)  # a shadow block never holds
    # The hold block's own decisions are not shadow matches.
    assert block_stats(block=block, since=SINCE, until=UNTIL).shadow_matches == 0


def test_it_counts_holds_per_day_by_outcome_with_every_day_of_the_period(history):
    per_day = block_stats(block=history, since=SINCE, until=UNTIL).per_day
    assert [day.day for day in per_day] == [(SINCE + timedelta(days=n)).date() for n in range(10)]
    rows = {day.day: (day.open, day.released, day.rejected) for day in per_day}
    assert rows[SINCE.date()] == (0, 1, 0)
    assert rows[(SINCE + timedelta(days=2)).date()] == (0, 0, 2)
    assert rows[(SINCE + timedelta(days=6)).date()] == (1, 0, 1)
    assert rows[(UNTIL - timedelta(days=1)).date()] == (1, 0, 0)
    assert sum(sum(row) for row in rows.values()) == 6


def test_it_counts_in_a_few_queries_however_many_holds(history, django_assert_num_queries):
    with django_assert_num_queries(4):  # counts, median, shadow matches, per day
        block_stats(block=history, since=SINCE, until=UNTIL)


def test_it_defaults_to_the_30_days_up_to_now():
    now = timezone.now()
    assert stats_period(since=None, until=None, now=now) == (now - timedelta(days=30), now)
    until = now - timedelta(days=2)
    assert stats_period(since=None, until=until) == (until - timedelta(days=30), until)


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        ("yesterday", None, "since"),
        ("2026-02-31", None, "since"),
        (None, "2026-13-01T00:00:00Z", "until"),
        ("2026-11-02", "2026-11-01", "since"),
        ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", "since"),
        ("2024-01-01", "2026-01-01", "since"),
    ],
)
def test_it_refuses_a_period_it_cannot_read(since, until, field):
    with pytest.raises(StatsPeriodError) as refused:
        stats_period_parse(since=since, until=until)
    assert refused.value.field == field


def test_it_reads_dates_as_local_midnight_and_times_with_or_without_a_zone():
    since, until = stats_period_parse(since="2026-11-01", until="2026-11-02T12:30:00+02:00")
    assert since == timezone.make_aware(datetime.fromisoformat("2026-11-01T00:00:00"))
    assert until == datetime.fromisoformat("2026-11-02T10:30:00+00:00")


# --- The API -----------------------------------------------------------------------------------


def stats_url(block, **query) -> str:
    params = "&".join(f"{name}={value}" for name, value in query.items())
    return f"/api/v2/blocks/{block.block_id}/stats/" + (f"?{params}" if params else "")


def test_it_answers_the_statistics_at_the_api(history, api):
    response = api("audrey").get(
        stats_url(history, since=SINCE.isoformat().replace("+", "%2B"),
                  until=UNTIL.isoformat().replace("+", "%2B"))
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == STATS_KEYS | {"since", "until", "per_day"}
    assert {key: body[key] for key in STATS_KEYS} == {
        "holds": 6,
        "open": 2,
        "released": 1,
        "rejected": 3,
        "reject_rate": 0.75,
        "median_seconds_to_decision": 360.0,
        "shadow_matches": 0,
    }
    assert datetime.fromisoformat(body["since"]) == SINCE
    assert datetime.fromisoformat(body["until"]) == UNTIL
    assert len(body["per_day"]) == 10
    assert set(body["per_day"][0]) == {"day", "open", "released", "rejected"}
    assert body["per_day"][0] == {"day": SINCE.date().isoformat(), "open": 0, "released": 1,
                                  "rejected": 0}  # fmt: skip


def test_it_answers_the_last_30_days_by_default(block, hold, api):
    hold(timezone.now() - timedelta(days=29), "open")
    hold(timezone.now() - timedelta(days=31), "open")
    body = api("alice").get(stats_url(block)).json()
    assert (body["holds"], body["reject_rate"], body["median_seconds_to_decision"]) == (
        1, None, None)  # fmt: skip
    since, until = datetime.fromisoformat(body["since"]), datetime.fromisoformat(body["until"])
    assert until - since == timedelta(days=30)
    assert abs(timezone.now() - until) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "not-a-date"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "2026-11-05", "until": "2026-11-01"}, "since"),
    ],
)
def test_it_answers_400_for_bad_dates(block, api, query, field):
    response = api("oscar").get(stats_url(block, **query))
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field and field in body["error"]


def test_it_answers_404_for_an_unknown_block(api, people):
    response = api("oscar").get("/api/v2/blocks/blk_nope/stats/")
    assert response.status_code == 404


# --- The admin ---------------------------------------------------------------------------------


@pytest.fixture
def oscar(people):
    people["oscar"].is_staff = True
    people["oscar"].save(update_fields=["is_staff"])
    client = Client()
    client.force_login(people["oscar"])
    return client


def test_it_shows_the_last_30_days_on_the_blocks_page_with_a_chart(block, hold, oscar):
    hold(timezone.now() - timedelta(days=3), "rejected", 90)
    hold(timezone.now() - timedelta(days=2), "released", 3 * 3600)
    hold(timezone.now() - timedelta(days=2), "open")
    hold(timezone.now() - timedelta(days=40), "rejected", 5)  # before the 30 days
    response = oscar.get(f"/admin/rules/block/{block.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()

    def figure(name):
        return re.search(rf'id="stats-{name}">([^<]*)<', page).group(1)

    assert (figure("holds"), figure("open"), figure("released"), figure("rejected")) == (
        "3", "1", "1", "1")  # fmt: skip
    assert figure("reject-rate") == "50 %"
    assert figure("median") == "1 h 30 min"  # of 90 s and 3 h
    assert figure("shadow") == "0"
    chart = re.search(r'<figure class="hd-daychart" id="holds-per-day">.*?</figure>', page).group()
    assert chart.count("<rect ") == 3
    assert {outcome: chart.count(f'data-outcome="{outcome}"')
            for outcome in ("open", "released", "rejected")} == {
        "open": 1, "released": 1, "rejected": 1}  # fmt: skip
    assert 'aria-label="Holds per day by outcome, 3 in 31 days"' in chart


def test_it_says_none_decided_on_the_page_of_a_block_without_decisions(block, oscar):
    page = oscar.get(f"/admin/rules/block/{block.pk}/change/").content.decode()
    assert 'id="stats-holds">0<' in page
    assert 'id="stats-reject-rate">none decided<' in page
    assert "<rect " not in page


# --- In a browser, at a desktop's and a phone's width -----------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1400, 390])
def test_it_shows_the_statistics_legibly_in_a_browser(console, block, hold, width, tmp_path):  # noqa: F811
    hold(timezone.now() - timedelta(days=5), "rejected", 600)
    hold(timezone.now() - timedelta(days=5), "released", 60)
    hold(timezone.now() - timedelta(days=1), "open")
    page = console.login("oscar", width=width)
    page.goto(console.url + f"/admin/rules/block/{block.pk}/change/")
    page.screenshot(path=str(tmp_path / f"block-stats-{width}.png"), full_page=True)

    panel = page.locator("#block-stats")
    assert panel.is_visible()
    assert page.locator("#stats-holds").inner_text() == "3"
    assert page.locator("#stats-reject-rate").inner_text() == "50 %"
    box = panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width  # nothing cut off at the side
    widest = panel.evaluate(
        "e => Math.max(...[...e.querySelectorAll('*')].map(c => c.getBoundingClientRect().right))"
    )
    assert widest <= box["x"] + box["width"]  # nor sticking out of the panel
    chart = page.locator("#holds-per-day svg").bounding_box()
    assert chart["width"] > box["width"] * 0.6 and chart["height"] >= 100
    bars = page.locator("#holds-per-day rect")
    assert bars.count() == 3
    assert all(bars.nth(n).bounding_box()["height"] > 5 for n in range(3))
    # The texts are HTML beside the chart, not scaled down with it.
    for text in ("#holds-per-day .hd-daychart-scale span", "#holds-per-day .hd-legend-item"):
        size = page.locator(text).first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 11
