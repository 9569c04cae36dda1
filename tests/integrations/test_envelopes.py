"""Outbound envelopes: each scheme builds the bytes of hookdesk's own events, unchanged since
they were built in integrations (receivers verify signatures over exactly these bytes)."""

from datetime import UTC, datetime

import pytest

from integrations.envelopes import envelope_body

CREATED_AT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
DATA = {
    "order_id": "ord_Ünï 1",
    "order_value": 5500.25,
    "currency": "EUR",
    "hold_id": "hld_01",
    "status": "held",
    "payment_pre_authorisation": "voided",
    "payment_note": "Held — voided",
    "customer_id": "cus_9",
    "block_id": "blk_1",
    "reasons": ["a", "b"],
    "erp_status_code": None,
}
DATA_JSON = (
    '"order_value":5500.25,"currency":"EUR","hold_id":"hld_01","status":"held",'
    '"payment_pre_authorisation":"voided","payment_note":"Held — voided","customer_id":"cus_9",'
    '"block_id":"blk_1","reasons":["a","b"],"erp_status_code":null'
)
EXPECTED = {
    "autranex": '{"event_id":"evt_01","event_type":"order.held",'
    '"created_at":"2024-05-06T07:08:09Z","data":{"order_id":"ord_Ünï 1",' + DATA_JSON + "}}",
    "standard": '{"type":"order.held","timestamp":"2024-05-06T07:08:09Z",'
    '"data":{"order_id":"ord_Ünï 1",' + DATA_JSON + "}}",
    "procureiq": '{"id":"evt_01","type":"order.held","version":"1.0","created":1714979289,'
    '"data":{"orderId":"ord_Ünï 1","totalAmount":5500.25,"currency":"EUR","holdId":"hld_01",'
    '"status":"held","paymentPreAuthorisation":"voided","paymentNote":"Held — voided",'
    '"customerId":"cus_9","blockId":"blk_1","reasons":["a","b"],"erpStatusCode":null},'
    '"metadata":{"source":"hookdesk"}}',
    "automation": '{"orderId":"ord_Ünï 1","eventType":"OrderHeld"}',
}


@pytest.mark.parametrize("scheme", sorted(EXPECTED))
def test_it_builds_the_envelope_of_each_scheme_byte_for_byte(scheme):
    body = envelope_body(
        scheme=scheme, event_id="evt_01", event_type="order.held", created_at=CREATED_AT, data=DATA
    )

    assert body == EXPECTED[scheme].encode()


@pytest.mark.parametrize(
    ("event_type", "automation_type"),
    [("order.held", "OrderHeld"), ("order.released", "OrderReleased"),
     ("order.rejected", "OrderRejected")],
)  # fmt: skip
def test_it_names_hookdesks_events_as_the_automation_api_does(event_type, automation_type):
    body = envelope_body(
        scheme="automation", event_id="e", event_type=event_type, created_at=CREATED_AT, data=DATA
    )

    assert body == f'{{"orderId":"ord_Ünï 1","eventType":"{automation_type}"}}'.encode()


def test_it_refuses_an_unknown_scheme():
    with pytest.raises(ValueError, match="unknown signature scheme 'nope'"):
        envelope_body(
            scheme="nope", event_id="e", event_type="order.held", created_at=CREATED_AT, data=DATA
        )
