"""hookdesk's own events (order.held/released/rejected): the decision snapshot kept in the outbox
(the notice) and its envelope in each signature scheme's format, which the scheme builds
(`ProviderScheme.outbound_envelope`)."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from integrations.models import DestinationScope
from rules.models import FINANCE_NOTE_HELD, FINANCE_NOTE_RELEASED, HeldOrder
from webhooks.providers import SCHEMES, get_scheme

FINANCE_NOTE_REJECTED = (
    "Rejected: the payment pre-authorisation was voided when the order was held and is not renewed."
)
# What finance should expect of the payment pre-authorisation at each decision.
PRE_AUTHORISATION = {
    "order.held": ("voided", FINANCE_NOTE_HELD),
    "order.released": ("reauthorisation_required", FINANCE_NOTE_RELEASED),
    "order.rejected": ("voided", FINANCE_NOTE_REJECTED),
}


def notice_for(*, hold: HeldOrder, event_type: str) -> dict[str, Any]:
    """The decision as the outbox keeps it: every retry sends what was decided, even if the
    hold changes later."""
    pre_authorisation, note = PRE_AUTHORISATION[event_type]
    return {
        "hold_id": hold.id,
        "order_id": hold.order.order_id,
        "status": event_type.removeprefix("order."),
        "order_value": str(hold.amount) if hold.amount is not None else None,
        "currency": hold.currency or None,
        "customer_id": hold.customer_id or None,
        "block_id": hold.public_block_id,
        "reasons": list(hold.reasons),
        "payment_pre_authorisation": pre_authorisation,
        "payment_note": note,
    }


def _number(value: str | None) -> int | float | None:
    if value is None:
        return None
    amount = Decimal(value)
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def notice_data(notice: dict[str, Any], *, scope: str) -> dict[str, Any]:
    """The `data` object of an event, in snake case. A finance-scoped destination gets the
    order, its amount and the pre-authorisation note, not the compliance reasons."""
    data = {
        "order_id": notice["order_id"],
        "order_value": _number(notice["order_value"]),
        "currency": notice["currency"],
        "hold_id": notice["hold_id"],
        "status": notice["status"],
        "payment_pre_authorisation": notice["payment_pre_authorisation"],
        "payment_note": notice["payment_note"],
    }
    if scope != DestinationScope.FINANCE:
        data |= {
            "customer_id": notice["customer_id"],
            "block_id": notice["block_id"],
            "reasons": notice["reasons"],
        }
    return data


def envelope_body(
    *,
    scheme: str,
    event_id: str,
    event_type: str,
    created_at: datetime,
    data: dict[str, Any],
) -> bytes:
    """The bytes a receiver of `scheme` expects for one event: the scheme builds them."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown signature scheme {scheme!r}")
    return get_scheme(scheme).outbound_envelope(
        event_id=event_id, event_type=event_type, created_at=created_at, data=data
    )
