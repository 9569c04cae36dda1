"""Concurrent deliveries of one event over real HTTP and real PostgreSQL transactions."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.postgres import requires_postgres
from tests.signing import autranex_headers
from webhooks.models import Delivery, DeliveryOutcome, Event
from webhooks.services import endpoint_create

COPIES = 32


@requires_postgres()
@pytest.mark.django_db(transaction=True)
def test_it_stores_exactly_one_event_for_32_concurrent_copies(wide_live_server):
    endpoint, secret = endpoint_create(slug="race", provider="autranex")
    body = b'{"event_id":"evt_race","event_type":"order.held","data":{"order_id":"o1"}}'
    headers = autranex_headers(body, secret)
    url = wide_live_server.url + endpoint.receiver_path
    start = threading.Barrier(COPIES)

    def deliver(_):
        with httpx.Client(timeout=30) as http:
            start.wait()
            return http.post(url, content=body, headers=headers)

    with ThreadPoolExecutor(max_workers=COPIES) as pool:
        responses = list(pool.map(deliver, range(COPIES)))

    assert [r.status_code for r in responses] == [200] * COPIES
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["duplicate"] * (COPIES - 1) + ["received"]
    assert len({r.json()["event"] for r in responses}) == 1
    assert Event.objects.count() == 1
    outcomes = list(Delivery.objects.values_list("outcome", flat=True))
    assert sorted(outcomes) == sorted(
        [DeliveryOutcome.DUPLICATE] * (COPIES - 1) + [DeliveryOutcome.ACCEPTED]
    )
