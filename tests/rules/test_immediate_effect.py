"""A change to a block, a risk list or a destination applies to every event stored after it
commits, in every process: caches are invalidated by the change, never left to expire."""

import pytest
from django.db import transaction

from core.caching import (
    InvalidatedCache,
    cache_generation,
    cache_generations_once,
    cache_invalidate,
)
from rules.models import Block, BlockStatus, HeldOrder
from rules.services import block_create, block_update
from tests.postgres import requires_postgres
from tests.support.cluster import wait_for
from tests.support.events import deliver, procureiq
from webhooks.models import Event, EventStatus


def _order(order_id: str, amount: int) -> dict:
    return procureiq(
        "order.created",
        {"orderId": order_id, "userId": "cus_1", "totalAmount": amount, "currency": "USD"},
    )


@pytest.mark.django_db
def test_a_cache_loads_once_until_its_generation_moves():
    loads = []
    cache = InvalidatedCache(lambda: loads.append(1) or len(loads), name="test.counter")

    assert (cache(), cache()) == (1, 1)
    cache_invalidate("test.counter")  # as a change in any process does
    assert cache() == 2
    assert cache_generation("test.counter") == 1


@pytest.mark.django_db(transaction=True)
def test_a_change_that_rolls_back_invalidates_nothing():
    cache = InvalidatedCache(lambda: "loaded", name="test.rollback")
    cache()
    with pytest.raises(RuntimeError), transaction.atomic():
        cache_invalidate("test.rollback")
        raise RuntimeError("the change failed")
    assert cache_generation("test.rollback") == 0


@pytest.mark.django_db
def test_saving_a_block_bumps_the_blocks_generation_in_its_own_transaction():
    before = cache_generation("rules.blocks")
    block = block_create(name="High value", condition="order_value > 5000", action="hold")
    assert cache_generation("rules.blocks") > before
    before = cache_generation("rules.blocks")
    Block.objects.get(pk=block.pk).save()  # any save, from any code path
    assert cache_generation("rules.blocks") == before + 1


@requires_postgres()
@pytest.mark.cluster
def test_a_block_disabled_in_one_process_stops_holding_at_once_in_the_workers(
    transactional_db, make_endpoint, qcluster
):
    block = block_create(name="High value", condition="order_value > 5000", action="hold")
    endpoint, secret = make_endpoint("procureiq")
    qcluster()
    deliver(endpoint, secret, _order("ord_before", 9000))
    wait_for(lambda: HeldOrder.objects.filter(order__order_id="ord_before").exists())

    # The workers have the block cached now. Disable it here, then send the next order at once.
    block_update(block=block, status=BlockStatus.DISABLED, reason="too noisy")
    event = deliver(endpoint, secret, _order("ord_after", 9500))

    wait_for(lambda: Event.objects.get(pk=event.pk).status == EventStatus.PROCESSED)
    assert not HeldOrder.objects.filter(order__order_id="ord_after").exists()


@pytest.mark.django_db
def test_a_processing_batch_reads_the_generations_once(django_assert_num_queries):
    first = InvalidatedCache(lambda: "a", name="test.first")
    second = InvalidatedCache(lambda: "b", name="test.second")
    first(), second()  # loaded: later uses only check their generations
    cache_invalidate("test.second")

    with django_assert_num_queries(1), cache_generations_once():
        assert [first(), second(), first(), second()] == ["a", "b", "a", "b"]
    with django_assert_num_queries(2):
        first(), second()  # outside a batch, one lookup each
