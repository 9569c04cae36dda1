"""Fixtures for outbound tests: loopback receivers, held orders made the way production makes
them (a signed AUTRANEX order.held through the receiver and the pipeline), and destinations."""

import itertools

import pytest

from integrations.services import destination_create
from integrations.transport import Transport
from rules.models import HeldOrder
from tests.integrations.support import Sink
from tests.support.events import autranex, deliver, process


@pytest.fixture(autouse=True)
def fresh_http_clients():
    yield
    Transport.forget_all()


@pytest.fixture
def sinks():
    """sinks(replies=[Reply(500), Reply(200)], tls=None) -> a started Sink, stopped after."""
    started = []

    def start(replies=None, *, tls=None) -> Sink:
        sink = Sink(replies, tls=tls)
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


@pytest.fixture
def hold_order(make_endpoint):
    """hold_order(order_id=..., order_value=..., block_id=...) -> the HeldOrder that an AUTRANEX
    order.held event creates once received and processed."""
    endpoint, secret = make_endpoint("autranex", slug="autranex-upstream")
    numbers = itertools.count(1)

    def hold(
        order_id: str | None = None,
        *,
        order_value=5500,
        block_id: str = "blk_high_risk_over_5000",
        event_id: str | None = None,
    ) -> HeldOrder:
        order_id = order_id or f"ord_{next(numbers):04d}"
        event = deliver(
            endpoint,
            secret,
            autranex(
                "order.held",
                {
                    "order_id": order_id,
                    "order_value": order_value,
                    "currency": "USD",
                    "customer_id": "cus_8F3K2M9Q",
                    "block_id": block_id,
                },
                event_id=event_id,
            ),
        )
        process(event)
        return HeldOrder.objects.get(event=event)

    hold.endpoint = endpoint
    hold.secret = secret
    return hold


@pytest.fixture
def make_destination(db):
    """make_destination(url, **values) -> (destination, secret)."""
    numbers = itertools.count(1)

    def make(url: str, **values):
        values.setdefault("name", f"Destination {next(numbers)}")
        return destination_create(url=url, **values)

    return make
