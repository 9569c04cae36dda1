"""Each risk signal computed from a real sequence of stored, processed events."""

from datetime import timedelta
from decimal import Decimal

import pytest

from rules.models import Order, RiskListEntry
from rules.risk_signals import SIGNAL_NAMES, SignalInputs, signals_compute
from tests.support.events import deliver, process, procureiq
from webhooks.models import Event
from webhooks.processing import event_order_view


@pytest.fixture
def endpoint(make_endpoint):
    return make_endpoint("procureiq", environment="sandbox")


def stored(endpoint, payload, *, days_ago: int = 0) -> Event:
    event = deliver(*endpoint, payload)
    if days_ago:
        Event.objects.filter(pk=event.pk).update(
            received_at=event.received_at - timedelta(days=days_ago)
        )
    process(event)
    return event


def signals_of(event: Event) -> dict:
    event.refresh_from_db()
    view = event_order_view(event)
    return signals_compute(
        SignalInputs(
            event_type=event.event_type,
            provider=event.endpoint.provider,
            environment=event.endpoint.environment,
            received_at=event.received_at,
            view=view,
            order=Order.objects.filter(order_id=view.order_id).first(),
        )
    )


def order(order_id, amount, customer="usr_1", **data):
    return procureiq(
        "order.created",
        {"orderId": order_id, "userId": customer, "totalAmount": amount, "currency": "USD", **data},
    )


@pytest.mark.django_db
def test_it_reads_payload_signals_and_context(endpoint):
    event = stored(endpoint, order("o1", 742.5, shipToCountry="de", billToCountry="FR"))
    signals = signals_of(event)
    assert set(signals) == set(SIGNAL_NAMES)
    assert signals["order_value"] == Decimal("742.5")
    assert signals["currency"] == "USD"
    assert (signals["ship_to_country"], signals["bill_to_country"]) == ("DE", "FR")
    assert (signals["event_type"], signals["provider"], signals["environment"]) == (
        "order.created", "procureiq", "sandbox"
    )  # fmt: skip


@pytest.mark.django_db
def test_it_dates_the_customer_from_the_first_event_seen(endpoint):
    stored(endpoint, procureiq("user.registered", {"userId": "usr_1"}), days_ago=40)
    assert signals_of(stored(endpoint, order("o1", 10)))["customer_age_days"] == 40


@pytest.mark.django_db
def test_it_counts_a_never_seen_customer_as_zero_days_old(endpoint):
    assert (
        signals_of(stored(endpoint, order("o1", 10, customer="usr_new")))["customer_age_days"] == 0
    )


@pytest.mark.django_db
def test_it_averages_earlier_orders_only(endpoint):
    stored(endpoint, order("o1", 100), days_ago=3)
    stored(endpoint, order("o2", 300), days_ago=2)
    stored(endpoint, order("x1", 9999, customer="usr_other"), days_ago=2)
    signals = signals_of(stored(endpoint, order("o3", 5000)))

    assert signals["customer_order_count"] == 2
    assert signals["customer_avg_order_value"] == Decimal("200.00")


@pytest.mark.django_db
def test_it_fills_the_order_value_from_history_when_the_event_lacks_it(endpoint):
    stored(endpoint, order("o1", 6100), days_ago=1)
    shipped = stored(endpoint, procureiq("order.shipped", {"orderId": "o1", "trackingNumber": "T"}))
    signals = signals_of(shipped)
    assert signals["order_value"] == Decimal("6100")
    assert signals["ship_to_country"] is None  # unknown, never guessed


@pytest.mark.django_db
def test_it_counts_payment_methods_and_spots_a_first_amex(endpoint):
    pay = "payment.initiated"
    stored(endpoint, procureiq(pay, {"orderId": "o1", "userId": "usr_1", "provider": "visa"}),
           days_ago=5)  # fmt: skip
    first_amex = stored(
        endpoint,
        procureiq(pay, {"orderId": "o2", "userId": "usr_1", "provider": "AMEX"}),
        days_ago=1,
    )
    later_amex = stored(
        endpoint, procureiq(pay, {"orderId": "o3", "userId": "usr_1", "provider": "amex"})
    )

    first = signals_of(first_amex)
    assert (first["payment_method"], first["payment_methods_count"]) == ("amex", 2)
    assert first["first_time_amex"] is True
    assert signals_of(later_amex)["first_time_amex"] is False


@pytest.mark.django_db
def test_it_ships_a_default_ofac_list_that_operators_can_edit(endpoint):
    event = stored(endpoint, order("o1", 10, shipToCountry="IR"))
    assert {"CU", "IR", "KP", "SY"} <= set(signals_of(event)["ofac_regions"])

    RiskListEntry.objects.filter(list_name="ofac_regions", value="IR").delete()
    RiskListEntry.objects.create(list_name="ofac_regions", value="XK", label="test")
    regions = signals_of(event)["ofac_regions"]
    assert "IR" not in regions
    assert "XK" in regions


@pytest.mark.django_db
def test_it_leaves_customer_signals_unknown_without_a_customer(endpoint):
    event = stored(endpoint, procureiq("order.confirmed", {"orderId": "o9"}))
    signals = signals_of(event)
    assert signals["customer_order_count"] is None
    assert signals["customer_avg_order_value"] is None
    assert signals["customer_age_days"] is None
    assert signals["first_time_amex"] is None
