"""Authentic payloads the canonical order view cannot hold: processing never fails on their
shape, the field is recorded as unreadable with a note, and the rules fail closed on it."""

import json
from decimal import Decimal

import pytest
from django.core.validators import DecimalValidator
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.models import HeldOrder, HoldStatus, Order
from rules.services import block_create
from tests.signing import as_meta, procureiq_headers
from tests.support.events import deliver, process, procureiq
from webhooks.models import Event, EventStatus
from webhooks.providers.base import CANONICAL_MAX_LENGTHS, OrderView

pytestmark = pytest.mark.django_db

# The ProcureIQ data key of each canonical text field.
PROCUREIQ_KEYS = {
    "order_id": "orderId",
    "customer_id": "userId",
    "currency": "currency",
    "ship_to_country": "shipToCountry",
    "bill_to_country": "billToCountry",
    "payment_method": "paymentMethod",
    "payment_id": "paymentId",
}


def order(order_id="ord_fc_1", **data):
    return procureiq(
        "order.created",
        {"orderId": order_id, "userId": "cus_fc", "totalAmount": 9000, "currency": "USD", **data},
    )


@pytest.fixture
def endpoint(make_endpoint):
    return make_endpoint("procureiq")


@pytest.fixture
def default_block(db):
    return block_create(name="High value", condition="order_value > 5000", action="hold")


def test_it_holds_the_reported_long_currency_instead_of_dying(endpoint, default_block):
    event = deliver(*endpoint, order(currency="EURO-CURRENCY-X"))

    assert process(event) == EventStatus.PROCESSED
    assert event.order_view["currency"] is None
    assert event.order_view["unreadable"] == {"currency": "longer than 10 characters"}
    assert event.hold.status == HoldStatus.HELD  # the rules still ran: $9,000 is held
    assert Order.objects.get(order_id="ord_fc_1").currency == ""


@pytest.mark.parametrize("field", sorted(PROCUREIQ_KEYS))
def test_it_processes_every_canonical_field_longer_than_its_column(endpoint, default_block, field):
    limit = CANONICAL_MAX_LENGTHS[field]
    too_long = "X" * (limit + 1)
    payload = order(**{PROCUREIQ_KEYS[field]: too_long})

    event = deliver(*endpoint, payload)

    assert process(event) == EventStatus.PROCESSED
    assert event.order_view[field] is None
    assert event.order_view["unreadable"] == {field: f"longer than {limit} characters"}
    if field == "order_id":
        assert not Order.objects.exists()  # no order can be keyed on it; nothing is cut
    else:
        assert event.hold.amount == 9000


def test_it_keeps_a_value_exactly_as_long_as_its_column(endpoint, default_block):
    event = deliver(*endpoint, order(currency="C" * 10, shipToCountry="USA"))

    process(event)

    assert event.order_view["unreadable"] == {}
    stored = Order.objects.get(order_id="ord_fc_1")
    assert (stored.currency, stored.ship_to_country) == ("C" * 10, "USA")


@pytest.mark.parametrize("amount", [1e14, 1e20, "1e14", "Infinity", "NaN", "-Infinity"])
def test_it_holds_an_amount_it_cannot_represent(endpoint, default_block, amount):
    event = deliver(*endpoint, order(totalAmount=amount))

    assert process(event) == EventStatus.PROCESSED
    assert event.order_view["amount"] is None
    assert "amount" in event.order_view["unreadable"]
    hold = event.hold
    assert hold.status == HoldStatus.HELD and hold.amount is None
    assert any(reason.startswith("amount not representable") for reason in hold.reasons)


def test_it_does_not_hold_what_no_live_block_reads(endpoint):
    block_create(name="Sanctions", condition="ship_to_country in ofac_regions", action="hold")

    event = deliver(*endpoint, order(totalAmount=1e20, shipToCountry="US"))

    assert process(event) == EventStatus.PROCESSED
    assert not HeldOrder.objects.exists()


def test_it_never_lets_an_allow_block_pass_what_it_cannot_read(endpoint, default_block):
    block_create(name="Trusted", condition="not (order_value > 100)", action="allow")
    block_create(name="Small", condition="order_value < 100", action="allow")

    event = deliver(*endpoint, order(totalAmount="Infinity"))

    process(event)
    assert event.hold.block.name == "High value"


def test_it_does_not_use_the_stored_amount_for_an_unreadable_one(endpoint, default_block):
    process(deliver(*endpoint, order(totalAmount=10)))
    event = deliver(*endpoint, procureiq("order.updated", {"orderId": "ord_fc_1",
                                                          "totalAmount": 1e20}))  # fmt: skip

    process(event)

    assert event.hold.reasons[1].startswith("amount not representable")


def test_shadow_blocks_record_a_fail_closed_match_without_holding(endpoint):
    block_create(name="Shadow", condition="order_value > 5000", action="hold", status="shadow")

    event = deliver(*endpoint, order(totalAmount=1e20))

    process(event)
    assert not HeldOrder.objects.exists()
    assert event.decisions.get().shadow is True


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_the_receiver_refuses_non_standard_json_numbers(endpoint, token):
    endpoint_, secret = endpoint
    body = json.dumps(order()).replace('"totalAmount": 9000', f'"totalAmount": {token}').encode()
    assert token.encode() in body

    response = Client().post(
        endpoint_.receiver_path,
        data=body,
        content_type="application/json",
        **as_meta(procureiq_headers(body, secret)),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "body is not valid JSON"
    assert not Event.objects.exists()


texts = st.one_of(st.none(), st.text(min_size=0, max_size=260))


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.fixed_dictionaries({name: texts for name in CANONICAL_MAX_LENGTHS}),
    amount=st.one_of(st.none(), st.decimals(allow_nan=True, allow_infinity=True)),
)
def test_a_canonical_view_always_fits_its_columns(values, amount):
    view = OrderView(event_type="order.created", amount=amount, **values)

    columns = {
        "order_id": Order._meta.get_field("order_id"),
        "customer_id": Order._meta.get_field("customer_id"),
        "currency": Order._meta.get_field("currency"),
        "ship_to_country": Order._meta.get_field("ship_to_country"),
        "bill_to_country": Order._meta.get_field("bill_to_country"),
        "payment_method": Order._meta.get_field("payment_method"),
        "upstream_block_id": HeldOrder._meta.get_field("upstream_block_id"),
        "event order_id": Event._meta.get_field("order_id"),
        "event customer_id": Event._meta.get_field("customer_id"),
        "hold currency": HeldOrder._meta.get_field("currency"),
        "hold customer_id": HeldOrder._meta.get_field("customer_id"),
    }
    for name, column in columns.items():
        value = getattr(view, name.split()[-1])
        assert value is None or len(value) <= column.max_length, name
    for name, given_value in values.items():
        kept = getattr(view, name)
        assert kept in (given_value, None)
        assert (kept is None and given_value is not None) == (name in view.unreadable)
    if view.amount is not None:
        amount = Order._meta.get_field("amount")
        places = Decimal(1).scaleb(-amount.decimal_places)
        DecimalValidator(amount.max_digits, amount.decimal_places)(view.amount.quantize(places))
    elif amount is not None:
        assert "amount" in view.unreadable
