"""A retry runs when it is due, to the second, on a real cluster with the Redis broker: the
schedule an operator configures is the schedule that runs, not the watchdog's minute."""

import itertools

import pytest

from integrations.conf import conf
from integrations.models import AttemptResult, DeliveryStatus, OutboundDelivery
from tests.integrations.support import Reply
from tests.postgres import requires_postgres
from tests.support.cluster import wait_for
from tests.support.events import autranex, deliver
from tests.support.queue import TEST_REDIS_URL

pytestmark = [requires_postgres(), pytest.mark.cluster]

# The spec's promise: a retry is attempted within 2 s of its due time.
WITHIN = 2.0


def test_outbound_retries_follow_a_one_and_two_second_schedule_to_dead(
    transactional_db, make_endpoint, make_destination, sinks, qcluster, redis_queue
):
    sink = sinks([Reply(500)])  # always failing
    destination, _ = make_destination(sink.url, retry_schedule=[1, 2])
    endpoint, secret = make_endpoint("autranex")
    qcluster(redis_url=TEST_REDIS_URL)

    deliver(
        endpoint,
        secret,
        autranex("order.held", {"order_id": "ord_retry", "order_value": 9100,
                                "currency": "USD", "block_id": "blk_upstream"}),
    )  # fmt: skip

    delivery = wait_for(
        lambda: OutboundDelivery.objects.filter(
            destination=destination, status=DeliveryStatus.DEAD
        ).first(),
        timeout=30,
    )
    attempts = list(delivery.log.order_by("number"))
    assert [a.result for a in attempts] == [AttemptResult.HTTP_ERROR] * 3
    assert len(sink.received) == 3
    first = attempts[0].started_at
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in itertools.pairwise(attempts)]
    jitter = 1 + conf()["RETRY_JITTER"]
    for gap, delay in zip(gaps, [1, 2], strict=True):
        assert delay <= gap <= delay * jitter + WITHIN, gaps
    assert (attempts[-1].started_at - first).total_seconds() < 5
    assert (delivery.dead_at - first).total_seconds() < 10
