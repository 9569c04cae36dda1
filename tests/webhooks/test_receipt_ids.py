"""Order and customer ids read at receipt, for each scheme: an event is found by its order
before it is processed, and still when its processing fails."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.signing import (
    as_meta,
    automation_headers,
    autranex_headers,
    procureiq_headers,
    standard_headers,
)
from webhooks.models import Event, EventStatus

pytestmark = pytest.mark.django_db

FITS = "o" * 200
TOO_LONG = "o" * 201


def body_for(provider: str, order_id, customer_id) -> dict:
    """A delivery body of the scheme, with the ids where its envelope keeps them."""
    if provider == "procureiq":
        data = {"orderId": order_id, "userId": customer_id, "totalAmount": 10}
        return {"id": "evt_r1", "type": "order.created", "version": "1.0", "data": data}
    if provider == "autranex":
        return {"event_id": "evt_r1", "event_type": "order.created",
                "data": {"order_id": order_id, "customer_id": customer_id}}  # fmt: skip
    if provider == "standard":
        return {"type": "order.created", "data": {"orderId": order_id, "customerId": customer_id}}
    return {"orderId": order_id, "eventType": "OrderCreated"}


def post(endpoint, secret: str, payload: dict, *, msg_id: str = "msg_r1"):
    body = json.dumps(payload).encode()
    signers = {
        "procureiq": lambda: procureiq_headers(body, secret),
        "autranex": lambda: autranex_headers(body, secret),
        "automation": lambda: automation_headers(body, secret),
        "standard": lambda: standard_headers(body, secret, msg_id=msg_id),
    }
    return Client().post(
        endpoint.receiver_path,
        data=body,
        content_type="application/json",
        **as_meta(signers[endpoint.provider]()),
    )


def received(endpoint, secret: str, payload: dict, **kwargs) -> Event:
    response = post(endpoint, secret, payload, **kwargs)
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"status", "event"}  # the contract's answer, unchanged
    return Event.objects.get(pk=response.json()["event"])


@pytest.mark.parametrize("provider", ["procureiq", "autranex", "standard"])
def test_it_stores_the_order_and_customer_ids_at_receipt(make_endpoint, provider):
    endpoint, secret = make_endpoint(provider)
    event = received(endpoint, secret, body_for(provider, "ord_at_receipt", "cus_at_receipt"))
    assert event.status == EventStatus.PENDING
    assert (event.order_id, event.customer_id) == ("ord_at_receipt", "cus_at_receipt")


def test_it_stores_the_automation_order_id_at_receipt(make_endpoint):
    endpoint, secret = make_endpoint("automation")
    event = received(endpoint, secret, body_for("automation", "A-1042", None))
    assert event.status == EventStatus.PENDING
    assert (event.order_id, event.customer_id) == ("A-1042", "")


@pytest.mark.parametrize("provider", ["procureiq", "autranex", "standard"])
def test_it_leaves_ids_that_do_not_fit_empty_rather_than_cut(make_endpoint, provider):
    endpoint, secret = make_endpoint(provider)
    event = received(endpoint, secret, body_for(provider, TOO_LONG, FITS))
    assert (event.order_id, event.customer_id) == ("", FITS)


@pytest.mark.parametrize("provider", ["procureiq", "autranex", "standard"])
def test_it_stores_an_event_without_ids_with_empty_ones(make_endpoint, provider):
    endpoint, secret = make_endpoint(provider)
    payload = body_for(provider, None, None)
    payload["data"] = {"note": "no order here", "orderId": {"not": "a string"}}
    event = received(endpoint, secret, payload)
    assert (event.order_id, event.customer_id) == ("", "")


@pytest.mark.parametrize("provider", ["procureiq", "autranex", "automation", "standard"])
def test_it_reads_the_ids_without_another_query(make_endpoint, provider):
    endpoint, secret = make_endpoint(provider)
    counts = []
    # The first delivery also marks its secret as last verified: compare the next two.
    for n, order_id in enumerate(["", "", "ord_counted"]):
        payload = body_for(provider, order_id or None, "cus_counted")
        if provider in ("procureiq", "autranex"):
            payload["id" if provider == "procureiq" else "event_id"] = f"evt_q{n}"
        if provider == "automation" and not order_id:
            payload["orderId"] = "A-counted"
        with CaptureQueriesContext(connection) as queries:
            received(endpoint, secret, payload, msg_id=f"msg_q{n}")
        counts.append(len(queries))
    assert counts[1] == counts[2]


def test_it_finds_a_failed_event_by_its_order_id(make_endpoint, people):
    from tests.support.events import process

    endpoint, secret = make_endpoint("procureiq")
    event = received(endpoint, secret, body_for("procureiq", "ord_broken", "cus_broken"))
    # The stored body no longer parses (as after a change of the sender's format).
    Event.objects.filter(pk=event.pk).update(body=b'{"id": "evt_r1", "type": "order.created"}')
    assert process(event) == EventStatus.FAILED
    assert event.order_id == "ord_broken"

    oscar = people["oscar"]
    oscar.is_staff = True
    oscar.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(oscar)
    page = client.get("/admin/webhooks/event/", {"q": "ord_broken"})
    assert page.status_code == 200
    assert [row.pk for row in page.context["cl"].result_list] == [event.pk]
