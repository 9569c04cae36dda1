"""Test traffic is marked at receipt: the test sender's deliveries carry a marker only this
deployment can make, the receiver stores them as test events and their holds as test holds,
and send_test_webhook says what a scheme cannot carry."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rules.services import block_create
from tests.support.events import process
from webhooks import test_traffic
from webhooks.models import Event
from webhooks.samples import sample_delivery, sample_receive
from webhooks.test_traffic import TEST_MARKER_HEADER, is_test_delivery

pytestmark = pytest.mark.django_db


def _received(delivery) -> Event:
    receipt = sample_receive(delivery=delivery)
    assert receipt.status_code == 200, receipt.body
    return Event.objects.get(pk=receipt.event_id)


def test_it_stores_the_test_senders_events_as_test_events(make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    assert _received(sample_delivery(endpoint=endpoint, test=True)).is_test
    assert not _received(sample_delivery(endpoint=endpoint)).is_test


def test_it_ignores_a_marker_made_for_another_body(make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    other = sample_delivery(endpoint=endpoint, test=True)
    real = sample_delivery(endpoint=endpoint)
    forged = type(real)(
        path=real.path,
        body=real.body,
        headers={**real.headers, TEST_MARKER_HEADER: other.headers[TEST_MARKER_HEADER]},
        event_type=real.event_type,
    )
    assert not _received(forged).is_test
    assert not is_test_delivery({TEST_MARKER_HEADER.lower(): "yes"}, real.body)
    assert is_test_delivery({TEST_MARKER_HEADER.lower(): test_traffic.test_marker(b"x")}, b"x")


def test_it_copies_the_mark_to_the_hold_the_test_event_creates(make_endpoint):
    block_create(name="High value", condition="order_value > 5000", action="hold")
    endpoint, _ = make_endpoint("procureiq")
    test_event = _received(sample_delivery(endpoint=endpoint, amount=9000, test=True))
    real_event = _received(sample_delivery(endpoint=endpoint, amount=9000))
    process(test_event)
    process(real_event)
    assert (test_event.hold.is_test, real_event.hold.is_test) == (True, False)


def test_it_marks_what_the_test_api_sends(api, make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    answer = api("oscar").post(
        "/api/v2/test/webhook", {"endpoint": endpoint.slug, "order_value": 10}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert Event.objects.get(pk=answer.json()["event"]).is_test


def test_it_marks_what_send_test_webhook_posts_over_http(make_endpoint, wide_live_server):
    endpoint, _ = make_endpoint("procureiq")
    out = StringIO()
    call_command(
        "send_test_webhook", endpoint.slug, "--event-type", "order.created",
        "--base-url", wide_live_server.url, stdout=out, stderr=StringIO(),
    )  # fmt: skip
    event_id = json.loads(out.getvalue().split(" ", 1)[1])["event"]
    assert Event.objects.get(pk=event_id).is_test


@pytest.mark.parametrize("option", [["--amount", "9000"], ["--customer-id", "cus_9"]])
def test_it_warns_that_the_automation_scheme_carries_no_amount_or_customer(make_endpoint, option):
    endpoint, _ = make_endpoint("automation", installation_key="install-key-81")
    err = StringIO()
    with pytest.raises(CommandError, match="could not reach"):
        call_command(
            "send_test_webhook", endpoint.slug, "--event-type", "OrderHeld", *option,
            "--base-url", "http://127.0.0.1:9", stdout=StringIO(), stderr=err,
        )  # fmt: skip
    dropped = "amount" if option[0] == "--amount" else "customer"
    assert f"warning: the automation scheme's events carry no {dropped}: {option[0]}" in (
        err.getvalue()
    )


def test_it_does_not_warn_when_the_scheme_carries_them(make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command(
            "send_test_webhook", endpoint.slug, "--event-type", "order.created",
            "--amount", "9000", "--customer-id", "cus_9", "--base-url", "http://127.0.0.1:9",
            stdout=StringIO(), stderr=err,
        )  # fmt: skip
    assert "warning" not in err.getvalue()
