"""Backtests that say what happened: of the orders a block would have held, how many were later
rejected, released, are still open or were never held, from a known history; counted across a
run's chunks, in one query per batch of orders, in the API's answer and on the admin's page."""

import pytest
from django.test import Client

from rules import backtest
from rules.backtest import (
    BacktestResult,
    backtest_run_start,
    backtest_run_step,
    block_backtest,
    order_outcomes,
)
from rules.models import BacktestStatus, HeldOrder
from rules.services import block_create, block_update, hold_reject, hold_release
from tests.support.events import autranex, deliver, process, procureiq

pytestmark = pytest.mark.django_db

OUTCOME_KEYS = {"rejected", "released", "open", "never_held"}


@pytest.fixture
def send(make_endpoint):
    """send("ord_1", 6000) -> the processed event of a new ProcureIQ order."""
    endpoint = make_endpoint("procureiq")

    def make(order_id: str, amount: float):
        payload = {"orderId": order_id, "userId": f"u_{order_id}", "totalAmount": amount}
        event = deliver(*endpoint, procureiq("order.created", payload))
        process(event)
        return event

    return make


@pytest.fixture
def history(send, people):
    """Seven orders over 5000 and one under. Two arrived before any block held (never held);
    of the five the live block held, two were rejected, one released and two are open. The
    backtested block is another one, a draft: what it would have held was held by the first."""
    send("ord_early_1", 7000)
    send("ord_early_2", 8000)
    live = block_create(name="Live over 5000", condition="order_value > 5000")
    holds = [HeldOrder.objects.get(event=send(f"ord_{n}", 6000 + n)) for n in range(5)]
    send("ord_small", 100)
    alice = people["alice"]
    hold_reject(hold=holds[0], actor=alice, reason="fraud")
    hold_reject(hold=holds[1], actor=alice, reason="fraud")
    hold_release(hold=holds[2], actor=alice, reason="known customer")
    block_update(block=live, actor=alice, status="disabled")
    return block_create(name="Draft over 5000", condition="order_value > 5000", status="draft")


EXPECTED = {"rejected": 2, "released": 1, "open": 2, "never_held": 2}


def test_it_says_what_became_of_the_orders_the_block_would_have_held(history):
    result = block_backtest(block=history).as_json()
    assert result["orders_matched"] == 7
    assert result["outcomes"] == EXPECTED


def test_it_counts_only_the_orders_the_block_matched(history):
    narrow = block_create(name="Over 6002", condition="order_value > 6002", status="draft")
    # ord_3 (open) and ord_4 (open), then the two early orders (never held).
    assert block_backtest(block=narrow).outcomes == {"rejected": 0, "released": 0, "open": 2,
                                                     "never_held": 2}  # fmt: skip


def test_it_looks_orders_up_in_one_query_per_batch(history, monkeypatch, django_assert_num_queries):
    ids = ["ord_0", "ord_1", "ord_2", "ord_3", "ord_early_1", "ord_missing"]
    with django_assert_num_queries(1):
        assert order_outcomes(ids) == {"rejected": 2, "released": 1, "open": 1, "never_held": 2}
    monkeypatch.setattr(backtest, "OUTCOME_BATCH", 4)
    with django_assert_num_queries(2):
        assert order_outcomes(ids) == {"rejected": 2, "released": 1, "open": 1, "never_held": 2}
    with django_assert_num_queries(0):
        assert order_outcomes([]) == {"rejected": 0, "released": 0, "open": 0, "never_held": 0}


def test_it_adds_the_outcomes_up_across_a_runs_chunks(history, monkeypatch):
    queued = []
    monkeypatch.setattr(backtest, "backtest_run_enqueue", lambda run: queued.append(run.chunk))
    monkeypatch.setattr(backtest, "BACKTEST_CHUNK_EVENTS", 3)
    run = backtest_run_start(block=history, queue=False)
    seen = []
    while not run.finished:
        backtest_run_step(str(run.pk), run.chunk, requeue=False)
        run.refresh_from_db()
        seen.append(dict(run.result["outcomes"]))
    assert run.status == BacktestStatus.DONE and len(seen) == 3  # 8 events, 3 a chunk
    assert seen[0] == {"rejected": 1, "released": 0, "open": 0, "never_held": 2}
    assert sum(seen[0].values()) < sum(seen[1].values()) < sum(seen[2].values())
    assert run.result["outcomes"] == EXPECTED


def test_it_goes_on_from_a_result_saved_before_outcomes_were_counted():
    saved = BacktestResult(block_id="blk_x", action="hold", since=None, until=None).as_json()
    del saved["outcomes"]
    assert BacktestResult.from_json(saved).outcomes == {"rejected": 0, "released": 0, "open": 0,
                                                        "never_held": 0}  # fmt: skip


def test_it_answers_the_outcomes_at_the_api(history, api):
    response = api("oscar").post(
        f"/api/v2/blocks/{history.block_id}/backtest/",
        {"since": "2000-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert set(response.json()["outcomes"]) == OUTCOME_KEYS
    assert response.json()["outcomes"] == EXPECTED
    run = api("oscar").get(f"/api/v2/backtests/{response.json()['id']}/").json()
    assert run["result"]["outcomes"] == EXPECTED


def test_it_shows_the_outcomes_on_the_backtest_page(history, people):
    people["oscar"].is_staff = True
    people["oscar"].save(update_fields=["is_staff"])
    client = Client()
    client.force_login(people["oscar"])
    run = backtest_run_start(block=history, queue=False)
    backtest_run_step(str(run.pk), run.chunk, requeue=False)
    page = client.get(f"/admin/rules/backtestrun/{run.pk}/change/").content.decode()
    for name, count in (("rejected", 2), ("released", 1), ("open", 2), ("never-held", 2)):
        assert f'id="outcome-{name}">{count}<' in page


def test_it_goes_by_an_orders_latest_hold_even_one_made_upstream(history, make_endpoint, people):
    released = HeldOrder.objects.get(order__order_id="ord_2")
    assert released.status == "released"
    upstream = make_endpoint("autranex")
    data = {"order_id": "ord_2", "order_value": 6002, "currency": "USD", "customer_id": "u_ord_2",
            "block_id": "blk_upstream_review"}  # fmt: skip
    process(deliver(*upstream, autranex("order.held", data)))
    assert HeldOrder.objects.filter(order__order_id="ord_2", status="held").count() == 1
    assert order_outcomes(["ord_2"]) == {"rejected": 0, "released": 0, "open": 1, "never_held": 0}
