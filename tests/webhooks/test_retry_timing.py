"""Inbound processing retries run on their schedule, to the second, on a real cluster with the
Redis broker (the schedule shortened to 1 s and 2 s for the test), not at the sweep's minute."""

import itertools

import pytest

from tests.postgres import requires_postgres
from tests.support.cluster import wait_for
from tests.support.events import deliver, procureiq
from tests.support.queue import TEST_REDIS_URL
from webhooks.models import AttemptOutcome, Event, EventStatus

pytestmark = [requires_postgres(), pytest.mark.cluster]

WITHIN = 2.0  # the spec: a retry is attempted within 2 s of its due time
UNPARSEABLE = b'{"id": "evt_gone", "type": "order.created"}'


def test_a_failing_event_is_retried_after_one_then_two_seconds_then_dead(
    transactional_db, make_endpoint, qcluster, redis_queue
):
    endpoint, secret = make_endpoint("procureiq")
    event = deliver(
        endpoint,
        secret,
        procureiq("order.created", {"orderId": "ord_r", "userId": "usr_1", "totalAmount": 10}),
    )
    # Stored whole, then unreadable: every attempt fails in the parser.
    Event.objects.filter(pk=event.pk).update(body=UNPARSEABLE)
    qcluster(redis_url=TEST_REDIS_URL, env={"HOOKDESK_PROCESSING_BACKOFF": "1,2"})

    wait_for(
        lambda: Event.objects.filter(pk=event.pk, status=EventStatus.DEAD).exists(), timeout=30
    )
    attempts = list(event.processing_attempts.order_by("number"))
    assert [a.outcome for a in attempts] == [AttemptOutcome.FAILED] * 3
    starts = [a.started_at for a in attempts]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    for gap, delay in zip(gaps, [1, 2], strict=True):
        assert delay <= gap <= delay + WITHIN, gaps
