"""Adapters over real HTTP: Epicor Eclipse's status mapping, PartsTech as a plain webhook, and
custom ERPs with operator-written status mapping and URL/body templates."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.adapters import ADAPTERS
from integrations.body_templates import PLACEHOLDERS, TemplateError, body_render, url_render
from integrations.models import OutboundDelivery
from integrations.services import DestinationError, destination_create, destination_update
from rules.services import hold_reject, hold_release
from tests.integrations.support import drain, signature_valid


def _sent(sink, hold_order, people=None, decide=None):
    hold = hold_order("ord_abc123")
    if decide:
        decide(hold=hold, actor=people["alice"], reason="checked")
    for delivery in OutboundDelivery.objects.order_by("created_at"):
        drain(delivery)
    return [request.json() for request in sink.received]


def test_it_sends_suspend_to_epicor_eclipse_on_hold(sinks, make_destination, hold_order):
    sink = sinks()
    _, secret = make_destination(sink.url, adapter="epicor_eclipse")

    [held] = _sent(sink, hold_order)

    assert held["event_type"] == "order.held"
    assert held["data"]["order_id"] == "ord_abc123"
    assert held["data"]["eclipse_status"] == "suspend"
    assert signature_valid("autranex", sink.received[0], secret)


@pytest.mark.parametrize(("decide", "status"), [(hold_release, "open"), (hold_reject, "cancel")])
def test_it_maps_epicor_eclipse_decisions_to_eclipse_statuses(
    sinks, make_destination, hold_order, people, decide, status
):
    sink = sinks()
    make_destination(sink.url, adapter="epicor_eclipse")

    held, decided = _sent(sink, hold_order, people, decide)

    assert (held["data"]["eclipse_status"], decided["data"]["eclipse_status"]) == (
        "suspend",
        status,
    )


def test_it_lets_operators_change_the_eclipse_mapping(sinks, make_destination, hold_order):
    sink = sinks()
    make_destination(sink.url, adapter="epicor_eclipse", status_mapping={"held": "S"})

    [held] = _sent(sink, hold_order)

    assert held["data"]["eclipse_status"] == "S"


def test_it_sends_partstech_the_plain_webhook_and_takes_no_mapping(
    sinks, make_destination, hold_order
):
    sink = sinks()
    make_destination(sink.url, adapter="partstech")

    [held] = _sent(sink, hold_order)

    assert set(held) == {"event_id", "event_type", "created_at", "data"}
    assert "eclipse_status" not in held["data"] and "erp_status" not in held["data"]
    with pytest.raises(DestinationError, match="takes no status mapping"):
        make_destination(sink.url, adapter="partstech", status_mapping={"held": "x"})


TEMPLATE = """{
  "orderNumber": ${order_id},
  "status": ${erp_status},
  "amount": ${order_value},
  "note": ${payment_note},
  "ref": ${event_id},
  "price": "$$ as text"
}"""


def test_it_fills_a_custom_erps_url_and_body_templates(sinks, make_destination, hold_order, people):
    sink = sinks()
    base = sink.url.removesuffix("/hooks/orders")
    _, secret = make_destination(
        base + "/erp/orders/${order_id}/status",
        adapter="custom_erp",
        status_mapping={"held": "ON_HOLD", "released": "OPEN", "rejected": "CANCELLED"},
        body_template=TEMPLATE,
    )

    held, released = _sent(sink, hold_order, people, hold_release)

    assert sink.received[0].path == "/erp/orders/ord_abc123/status"
    assert held == {
        "orderNumber": "ord_abc123",
        "status": "ON_HOLD",
        "amount": 5500,
        "note": held["note"],
        "ref": OutboundDelivery.objects.get(event_type="order.held").event_id,
        "price": "$ as text",
    }
    assert "voids" in held["note"]
    assert released["status"] == "OPEN"
    assert signature_valid("autranex", sink.received[1], secret)


def test_it_sends_a_custom_erp_the_envelope_with_its_status_without_a_template(
    sinks, make_destination, hold_order
):
    sink = sinks()
    make_destination(sink.url, adapter="custom_erp", status_mapping={"held": "HOLD"})

    [held] = _sent(sink, hold_order)

    assert held["data"]["erp_status"] == "HOLD"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('{"status": "${erp_status}"}', "placeholder stands for a whole JSON value"),
        ('{"x": ${settings}}', "unknown placeholder ${settings}"),
        ('{"x": ${order_id.__class__}}', "'$' must start ${name}"),
        ('{"x": $order_id}', "'$' must start ${name}"),
        ('{"x": {{ order_id }}}', "not valid JSON"),
        ("{% load x %}", "not valid JSON"),
    ],
)
def test_it_refuses_templates_it_cannot_fill_safely(db, template, message):
    with pytest.raises(DestinationError, match=message.replace("$", r"\$").replace("{", r"\{")):
        destination_create(
            name="erp",
            url="https://127.0.0.1:9/hook",
            adapter="custom_erp",
            status_mapping={"held": "H"},
            body_template=template,
        )


def test_it_requires_a_status_mapping_for_a_custom_erp(db):
    with pytest.raises(DestinationError, match="needs a status mapping") as refused:
        destination_create(name="erp", url="https://127.0.0.1:9/", adapter="custom_erp")
    assert refused.value.field == "status_mapping"
    destination, _ = destination_create(
        name="erp", url="https://127.0.0.1:9/", adapter="custom_erp", status_mapping={"held": "H"}
    )
    with pytest.raises(DestinationError, match="unknown hookdesk statuses"):
        destination_update(destination=destination, status_mapping={"paused": "P"})


values = st.fixed_dictionaries(
    {
        name: st.one_of(st.none(), st.text(max_size=30), st.integers(), st.floats(allow_nan=False))
        for name in PLACEHOLDERS
    }
)


@given(values)
def test_it_keeps_any_value_inside_its_json_slot(filled):
    body = body_render('{"a": ${order_id}, "b": [${reasons}, ${customer_id}]}', filled)
    assert json.loads(body) == {
        "a": filled["order_id"],
        "b": [filled["reasons"], filled["customer_id"]],
    }


@given(st.text(max_size=40))
def test_it_never_lets_a_value_change_the_urls_host_or_path(order_id):
    url = url_render("https://erp.example/orders/${order_id}?v=1", {"order_id": order_id})
    assert url.startswith("https://erp.example/orders/")
    assert url.endswith("?v=1")
    assert "/" not in url.removeprefix("https://erp.example/orders/").removesuffix("?v=1")


def test_it_has_one_module_per_adapter():
    assert set(ADAPTERS) == {"webhook", "epicor_eclipse", "partstech", "custom_erp"}
    with pytest.raises(TemplateError):
        url_render("ftp://${order_id}/", {"order_id": "x"})
