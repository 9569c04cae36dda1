"""Inputs the fuzzers found, kept as plain tests."""

import json

import pytest
from django.db import connection

from webhooks.providers import SCHEMES, EnvelopeError
from webhooks.providers.base import storable_amount


def autranex_view(order_value: str):
    body = (
        '{"event_id":"evt_1","event_type":"order.held","data":{"order_id":"ord_1",'
        f'"order_value":{order_value}}}}}'
    ).encode()
    scheme = SCHEMES["autranex"]
    return scheme.order_view(scheme.parse(body=body, headers={}))


@pytest.mark.parametrize("order_value", ["1e30", '"100000000000000"', "1" + "0" * 40])
def test_it_leaves_an_amount_no_order_row_can_hold_unknown(order_value):
    assert autranex_view(order_value).amount is None


@pytest.mark.django_db
@pytest.mark.parametrize("order_value", ['"99999999999999.9999"', "-5.00005", "0.00001", "5500"])
def test_it_keeps_every_amount_an_order_row_holds(order_value):
    amount = autranex_view(order_value).amount

    assert amount is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::numeric(18, 4)", [str(amount)])


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["1e400", '"a\\u0000b"', '"\\ud800"', '{"x": -1e400}'])
def test_it_drops_procureiq_extras_postgresql_cannot_store(reason):
    body = f'{{"id":"e1","type":"order.cancelled","data":{{"orderId":"o1","reason":{reason}}}}}'
    scheme = SCHEMES["procureiq"]

    view = scheme.order_view(scheme.parse(body=body.encode(), headers={}))

    assert "reason" not in view.extra
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb", [json.dumps(view.as_json())])


@pytest.mark.parametrize("reason", ["NaN", "Infinity", "-Infinity", '{"x": NaN}'])
def test_it_refuses_the_non_standard_json_numbers(reason):
    body = f'{{"id":"e1","type":"order.cancelled","data":{{"orderId":"o1","reason":{reason}}}}}'

    with pytest.raises(EnvelopeError, match="not valid JSON"):
        SCHEMES["procureiq"].parse(body=body.encode(), headers={})


def test_it_keeps_storable_procureiq_extras():
    body = (
        b'{"id":"e1","type":"order.cancelled","data":{"orderId":"o1","reason":"x","itemCount":2}}'
    )
    scheme = SCHEMES["procureiq"]

    view = scheme.order_view(scheme.parse(body=body, headers={}))

    assert view.extra == {"reason": "x", "itemCount": 2}


@pytest.mark.parametrize("webhook_id", ["m" * 256, "msg\x00id", "\ud800"])
def test_it_refuses_a_standard_id_it_could_not_store_even_without_verify(webhook_id):
    body = b'{"type":"order.created","data":{}}'

    with pytest.raises(EnvelopeError):
        SCHEMES["standard"].parse(body=body, headers={"webhook-id": webhook_id})


def test_it_rounds_before_judging_an_amount():
    from decimal import Decimal

    assert storable_amount(Decimal("99999999999999.99994"))
    assert not storable_amount(Decimal("99999999999999.99995"))


@pytest.mark.django_db
@pytest.mark.parametrize("metadata", [{"\u0000key": 1}, {"key": "a\u0000b"}])
def test_it_answers_400_for_block_metadata_postgresql_cannot_store(api, metadata):
    response = api("oscar").post(
        "/api/v2/blocks/",
        {"name": "b", "condition": "order_value > 1", "action": "hold", "metadata": metadata},
        format="json",
    )

    assert response.status_code in (400, 403)
    assert response.json()["error"]


@pytest.mark.django_db
def test_it_documents_error_answers_and_the_plain_version_list(api):
    schema = api("oscar").get("/api/schema/?format=json").json()
    versions = schema["paths"]["/api/v2/blocks/{block_id}/versions/"]["get"]["responses"]
    release = schema["paths"]["/api/v2/holds/{id}/release/"]["post"]["responses"]

    assert versions["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert {"401", "403", "404"} <= set(versions)
    assert {"400", "404", "409"} <= set(release)
    delivery = schema["components"]["schemas"]["OutboundDelivery"]["properties"]
    assert delivery["last_response_code"]["nullable"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/events/?type=%00",
        "/api/v2/holds/?order_id=a%00b",
        "/api/v2/blocks/?status=%00",
        "/admin/webhooks/event/?q=%00",
    ],
)
def test_a_nul_byte_in_a_query_is_a_clean_400(path, api, admin_client):
    client = admin_client if path.startswith("/admin/") else api("oscar")
    response = client.get(path)

    assert response.status_code == 400
    if path.startswith("/api/"):
        assert "NUL" in response.json()["error"]
