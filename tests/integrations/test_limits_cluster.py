"""Per-destination limits hold across worker processes: a real cluster of two workers on the
Redis broker, and a sink that records when each request arrived and how many were in it."""

import pytest

from integrations.models import DeliveryStatus, OutboundDelivery
from tests.integrations.support import Reply
from tests.postgres import requires_postgres
from tests.support.cluster import wait_for
from tests.support.queue import TEST_REDIS_URL

pytestmark = [requires_postgres(), pytest.mark.cluster]

TWO_WORKERS = {"HOOKDESK_WORKERS": "2"}


def _all_delivered(destination, count: int) -> bool:
    return (
        OutboundDelivery.objects.filter(
            destination=destination, status=DeliveryStatus.SUCCEEDED
        ).count()
        == count
    )


def test_a_rate_limit_of_five_per_second_holds_across_two_workers(
    transactional_db, hold_order, make_destination, sinks, qcluster, redis_queue
):
    sink = sinks()
    destination, _ = make_destination(sink.url, rate_limit=5)
    for n in range(20):
        hold_order(f"ord_rate_{n}")

    qcluster(redis_url=TEST_REDIS_URL, env=TWO_WORKERS)
    wait_for(lambda: _all_delivered(destination, 20), timeout=40)

    arrivals = sorted(request.at for request in sink.received)
    assert len(arrivals) == 20
    # 20 starts spaced 0.2 s apart take 3.8 s; in any second, at most 5 (+1 for the edge).
    assert arrivals[-1] - arrivals[0] >= 3.4
    for index, first in enumerate(arrivals):
        within_a_second = [at for at in arrivals[index:] if at - first < 1.0]
        assert len(within_a_second) <= 6, arrivals


def test_max_in_flight_holds_across_two_workers(
    transactional_db, hold_order, make_destination, sinks, qcluster, redis_queue
):
    sink = sinks([Reply(delay=0.3)])
    destination, _ = make_destination(sink.url, max_in_flight=2)
    for n in range(12):
        hold_order(f"ord_flight_{n}")

    qcluster(redis_url=TEST_REDIS_URL, env=TWO_WORKERS)
    wait_for(lambda: _all_delivered(destination, 12), timeout=40)

    assert len(sink.received) == 12
    assert max(request.concurrent for request in sink.received) == 2
