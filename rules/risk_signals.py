"""Risk signals: what a block's condition can read about an event's order and customer.

Values come from the event's payload where present and from hookdesk's own history otherwise.
History is read strictly before the event's receipt, so an event evaluates the same way at
processing time, on replay and in a backtest. Every lookup is an indexed query."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count

from rules.models import CustomerPaymentMethod, Order, RiskListEntry
from webhooks.models import Event
from webhooks.providers import OrderView

SIGNAL_NAMES = (
    "order_value",
    "currency",
    "customer_age_days",
    "customer_order_count",
    "customer_avg_order_value",
    "ship_to_country",
    "bill_to_country",
    "ofac_regions",
    "payment_method",
    "payment_methods_count",
    "first_time_amex",
    "event_type",
    "provider",
    "environment",
)

DEFAULT_OFAC_REGIONS = {
    "CU": "Cuba",
    "IR": "Iran",
    "KP": "North Korea",
    "SY": "Syria",
    "RU": "Russia (sectoral sanctions)",
    "BY": "Belarus",
    "VE": "Venezuela (government)",
    "MM": "Myanmar (Burma)",
}

_AMEX_NAMES = {"amex", "american_express", "american express", "americanexpress"}


def normalise_payment_method(method: str | None) -> str | None:
    if not method:
        return None
    method = method.strip().lower().replace("-", "_")
    return "amex" if method in _AMEX_NAMES else method[:50]


@dataclass(frozen=True)
class SignalInputs:
    """Everything signals are computed from, gathered once per evaluation."""

    event_type: str
    provider: str
    environment: str
    received_at: datetime
    view: OrderView
    order: Order | None

    @classmethod
    def of(cls, event: Event, view: OrderView, order: Order | None) -> "SignalInputs":
        """The inputs for one stored event (its endpoint must be loaded)."""
        return cls(
            event_type=event.event_type,
            provider=event.endpoint.provider,
            environment=event.endpoint.environment,
            received_at=event.received_at,
            view=view,
            order=order,
        )


def ofac_regions() -> list[str]:
    return list(
        RiskListEntry.objects.filter(list_name="ofac_regions").values_list("value", flat=True)
    )


# The signals each canonical field feeds. When the payload carries a field the view cannot hold,
# these signals are unreadable: not the stored order's older value, and not plain unknown.
_FIELD_SIGNALS = {
    "amount": ("order_value",),
    "currency": ("currency",),
    "ship_to_country": ("ship_to_country",),
    "bill_to_country": ("bill_to_country",),
    "payment_method": ("payment_method", "payment_methods_count", "first_time_amex"),
    "customer_id": (
        "customer_age_days",
        "customer_order_count",
        "customer_avg_order_value",
        "payment_methods_count",
        "first_time_amex",
    ),
}


def signals_unreadable(view: OrderView) -> dict[str, str]:
    """Signal name -> why it cannot be computed, from the view's unreadable fields."""
    unreadable: dict[str, str] = {}
    for field_name, why in view.unreadable.items():
        for name in _FIELD_SIGNALS.get(field_name, ()):
            unreadable.setdefault(name, f"{field_name} not representable ({why})")
    return unreadable


# Signals that need a history query, by the lookup that serves them.
_HISTORY_SIGNALS = {"customer_age_days", "customer_order_count", "customer_avg_order_value"}
_PAYMENT_SIGNALS = {"payment_methods_count", "first_time_amex"}


def signals_compute(
    inputs: SignalInputs,
    *,
    ofac: list[str] | None = None,
    names: Collection[str] = SIGNAL_NAMES,
) -> dict[str, Any]:
    """The signals in `names` (all by default). Only the lookups those signals need are run:
    with the default $5,000 block, evaluation costs no history query at all."""
    view, order, at = inputs.view, inputs.order, inputs.received_at
    customer_id = view.customer_id or (order.customer_id if order else None) or None
    method = normalise_payment_method(
        view.payment_method or (order.payment_method if order else None)
    )

    def known(payload_value, order_field: str):
        if payload_value is not None:
            return payload_value
        return (getattr(order, order_field) or None) if order else None

    signals: dict[str, Any] = {
        "order_value": known(view.amount, "amount"),
        "currency": known(view.currency, "currency"),
        "ship_to_country": known(view.ship_to_country, "ship_to_country"),
        "bill_to_country": known(view.bill_to_country, "bill_to_country"),
        "payment_method": method,
        "event_type": inputs.event_type,
        "provider": inputs.provider,
        "environment": inputs.environment,
    }
    if "ofac_regions" in names:
        signals["ofac_regions"] = ofac if ofac is not None else ofac_regions()
    if _HISTORY_SIGNALS & set(names):
        history = _customer_history(customer_id, view.order_id, at)
        signals["customer_age_days"] = history["age_days"]
        signals["customer_order_count"] = history["order_count"]
        signals["customer_avg_order_value"] = history["avg_order_value"]
    if _PAYMENT_SIGNALS & set(names):
        methods = _payment_methods_before(customer_id, at)
        signals["payment_methods_count"] = (
            None if customer_id is None else len(methods | ({method} if method else set()))
        )
        signals["first_time_amex"] = (
            None if method is None else (method == "amex" and "amex" not in methods)
        )
    for name in signals_unreadable(view):
        signals[name] = None
    return {name: value for name, value in signals.items() if name in names}


def _customer_history(customer_id: str | None, order_id: str | None, at: datetime) -> dict:
    if not customer_id:
        return {"age_days": None, "order_count": None, "avg_order_value": None}
    first_seen = (
        Event.objects.filter(customer_id=customer_id, received_at__lt=at)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    earlier_orders = Order.objects.filter(customer_id=customer_id, first_seen_at__lt=at)
    if order_id:
        earlier_orders = earlier_orders.exclude(order_id=order_id)
    figures = earlier_orders.aggregate(count=Count("id"), avg=Avg("amount"))
    avg = figures["avg"]
    return {
        # A customer never seen before is brand new: zero days old, not unknown.
        "age_days": (at - first_seen).days if first_seen else 0,
        "order_count": figures["count"],
        "avg_order_value": Decimal(avg).quantize(Decimal("0.01")) if avg is not None else None,
    }


def _payment_methods_before(customer_id: str | None, at: datetime) -> set[str]:
    if not customer_id:
        return set()
    return set(
        CustomerPaymentMethod.objects.filter(
            customer_id=customer_id, first_seen_at__lt=at
        ).values_list("method", flat=True)
    )


def payment_method_remember(*, customer_id: str | None, method: str | None, at: datetime) -> None:
    method = normalise_payment_method(method)
    if customer_id and method:
        CustomerPaymentMethod.objects.bulk_create(
            [CustomerPaymentMethod(customer_id=customer_id, method=method, first_seen_at=at)],
            ignore_conflicts=True,
        )


def signals_for_json(signals: dict[str, Any]) -> dict[str, Any]:
    """Signal values as JSON can hold them (Decimals as strings)."""
    return {
        name: str(value) if isinstance(value, Decimal) else value for name, value in signals.items()
    }
