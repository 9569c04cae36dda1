"""Backtest: what a block would have held over stored events of a period. Changes nothing."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from rules.evaluation import Match, compiled, reasons_for
from rules.models import Block, BlockAction, Order
from rules.risk_signals import SignalInputs, ofac_regions, signals_compute, signals_for_json
from webhooks.models import Event, EventStatus
from webhooks.providers import OrderView

SAMPLE_SIZE = 20
MAX_EVENTS = 200_000


@dataclass
class BacktestResult:
    block_id: str
    action: str
    since: datetime | None
    until: datetime | None
    events_evaluated: int = 0
    orders_matched: int = 0
    total_value: Decimal = Decimal("0")
    sample: list[dict] = field(default_factory=list)
    truncated: bool = False

    def as_json(self) -> dict:
        return {
            "block_id": self.block_id,
            "action": self.action,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "events_evaluated": self.events_evaluated,
            "orders_matched": self.orders_matched,
            "would_hold": self.orders_matched if self.action == BlockAction.HOLD else 0,
            "total_value": str(self.total_value),
            "sample": self.sample,
            "truncated": self.truncated,
        }


def _view_from_json(data: dict) -> OrderView:
    amount = data.get("amount")
    return OrderView(
        event_type=data.get("event_type", ""),
        order_id=data.get("order_id"),
        customer_id=data.get("customer_id"),
        amount=Decimal(amount) if amount is not None else None,
        currency=data.get("currency"),
        ship_to_country=data.get("ship_to_country"),
        bill_to_country=data.get("bill_to_country"),
        payment_method=data.get("payment_method"),
        payment_id=data.get("payment_id"),
        upstream_block_id=data.get("upstream_block_id"),
    )


def block_backtest(
    *, block: Block, since: datetime | None = None, until: datetime | None = None
) -> BacktestResult:
    """Evaluate `block` (whatever its status) against processed events received in
    [since, until). Each order counts once, at its first matching event."""
    condition = compiled(block.condition)
    result = BacktestResult(block_id=block.block_id, action=block.action, since=since, until=until)
    events = Event.objects.filter(status=EventStatus.PROCESSED).exclude(order_id="")
    if since:
        events = events.filter(received_at__gte=since)
    if until:
        events = events.filter(received_at__lt=until)
    if block.event_types:
        events = events.filter(event_type__in=block.event_types)
    ofac = ofac_regions()
    matched_orders: set[str] = set()
    orders = {}
    rows = events.select_related("endpoint").order_by("received_at").iterator(chunk_size=2000)
    for event in rows:
        if result.events_evaluated >= MAX_EVENTS:
            result.truncated = True
            break
        result.events_evaluated += 1
        if event.order_id in matched_orders:
            continue
        if event.order_id not in orders:
            orders[event.order_id] = Order.objects.filter(order_id=event.order_id).first()
        view = _view_from_json(event.order_view or {})
        signals = signals_compute(
            SignalInputs.of(event, view, orders[event.order_id]),
            ofac=ofac,
        )
        evaluation = condition.evaluate(signals)
        if not evaluation.matched:
            continue
        matched_orders.add(event.order_id)
        value = signals["order_value"]
        if value is not None:
            result.total_value += Decimal(value)
        if len(result.sample) < SAMPLE_SIZE:
            result.sample.append(
                {
                    "order_id": event.order_id,
                    "event": event.pk,
                    "received_at": event.received_at.isoformat(),
                    "order_value": str(value) if value is not None else None,
                    "reasons": reasons_for(Match(block, evaluation)),
                    "signals": signals_for_json(evaluation.values),
                }
            )
    result.orders_matched = len(matched_orders)
    return result
