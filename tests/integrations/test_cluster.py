"""End to end with a real django-q2 cluster: an AUTRANEX order.held is received, processed into
a hold, and the cluster's workers deliver hookdesk's order.held to a destination."""

import pytest

from integrations.models import DeliveryStatus, OutboundDelivery
from rules.models import HeldOrder
from tests.integrations.support import signature_valid
from tests.postgres import requires_postgres
from tests.support.cluster import wait_for
from tests.support.events import autranex, deliver

pytestmark = [requires_postgres(), pytest.mark.cluster]


def test_it_delivers_a_hold_through_the_worker_cluster(
    transactional_db, make_endpoint, make_destination, sinks, qcluster
):
    sink = sinks()
    _, destination_secret = make_destination(sink.url)
    endpoint, secret = make_endpoint("autranex")
    qcluster()

    deliver(
        endpoint,
        secret,
        autranex("order.held", {"order_id": "ord_cluster", "order_value": 9100,
                                "currency": "USD", "block_id": "blk_upstream"}),
    )  # fmt: skip

    hold = wait_for(lambda: HeldOrder.objects.filter(order__order_id="ord_cluster").first())
    delivery = wait_for(
        lambda: OutboundDelivery.objects.filter(hold=hold, status=DeliveryStatus.SUCCEEDED).first()
    )
    assert delivery.attempts == 1
    [request] = sink.received
    assert signature_valid("autranex", request, destination_secret)
    assert request.json()["data"]["order_id"] == "ord_cluster"
