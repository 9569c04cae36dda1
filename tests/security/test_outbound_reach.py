"""Where hookdesk's own requests can go: the test-webhook helper only to this console's
receiver (in process, no connection), send_test_webhook and outbound deliveries never along a
redirect."""

import dataclasses
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from core.tokens import api_token_issue
from integrations.models import AttemptResult, DeliveryStatus, OutboundAttempt, OutboundDelivery
from integrations.outbound import delivery_send
from integrations.services import destination_create
from integrations.transport import Transport
from tests.integrations.support import Reply, Sink
from tests.security.conftest import held_order
from webhooks.models import Delivery, Event
from webhooks.samples import sample_delivery, sample_receive


@pytest.fixture
def sinks():
    started = []

    def start(replies=None) -> Sink:
        started.append(Sink(replies))
        return started[-1]

    yield start
    for sink in started:
        sink.stop()
    Transport.forget_all()


@pytest.fixture
def operator(transactional_db):
    user = User.objects.create_superuser("ssrf-ops", password="ops-pass-0123")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user)}")
    return client


def test_it_hands_test_webhooks_only_to_its_own_receiver(operator, make_endpoint, sinks, settings):
    elsewhere = sinks()
    # Even the configured public address is never contacted: the helper opens no connection.
    settings.HOOKDESK = {**settings.HOOKDESK, "PUBLIC_BASE_URL": elsewhere.url}
    endpoint, _ = make_endpoint("standard")

    response = operator.post(
        "/api/v2/test/webhook",
        {"endpoint": endpoint.slug, "url": elsewhere.url, "base_url": elsewhere.url,
         "host": "127.0.0.1", "target": elsewhere.url},
        format="json",
        HTTP_X_FORWARDED_HOST=elsewhere.url.split("/")[2],
    )  # fmt: skip

    assert response.status_code == 200, response.content
    assert response.json()["status_code"] == 200
    assert elsewhere.received == []
    assert Event.objects.filter(endpoint=endpoint).count() == 1


@pytest.mark.parametrize("slug", ["../admin", "http://127.0.0.1:1/", "a/../../b", "x?y=1"])
def test_it_takes_only_a_slug_as_the_target(operator, slug, settings, sinks):
    elsewhere = sinks()
    settings.HOOKDESK = {**settings.HOOKDESK, "PUBLIC_BASE_URL": elsewhere.url}
    response = operator.post("/api/v2/test/webhook", {"endpoint": slug}, format="json")
    assert response.status_code == 400
    assert elsewhere.received == []


@pytest.mark.parametrize(
    "path", ["/api/v2/test/webhook", "/admin/webhooks/endpoint/", "/api/v2/blocks/", "/healthz"]
)
def test_it_hands_a_sample_to_no_view_but_the_receiver(make_endpoint, path):
    # In process, a sample comes from 127.0.0.1 past every middleware: any other view would
    # be called without the checks a request from outside gets.
    endpoint, _ = make_endpoint("autranex")
    aimed = dataclasses.replace(sample_delivery(endpoint=endpoint), path=path)

    with pytest.raises(ValueError, match="not this console's receiver"):
        sample_receive(delivery=aimed)

    assert not Delivery.objects.exists()


def test_it_does_not_follow_a_redirect_from_the_receiver_over_http(make_endpoint, sinks):
    # send_test_webhook posts over HTTP to the address it is given.
    further = sinks()
    redirecting = sinks([Reply(307, headers={"Location": further.url})])
    endpoint, _ = make_endpoint("autranex")

    with pytest.raises(CommandError, match="receiver answered 307"):
        call_command(
            "send_test_webhook", endpoint.slug, "--event-type", "order.held",
            "--base-url", redirecting.url.rsplit("/", 2)[0], stdout=io.StringIO(),
            stderr=io.StringIO(),
        )  # fmt: skip

    assert len(redirecting.received) == 1
    assert further.received == []


def test_it_records_an_outbound_redirect_as_a_failure_and_never_follows_it(
    transactional_db, make_endpoint, sinks
):
    further = sinks()
    redirecting = sinks([Reply(302, headers={"Location": further.url})])
    destination_create(name="Moved", url=redirecting.url, event_types=["order.held"])
    endpoint, secret = make_endpoint("autranex")
    hold = held_order(endpoint, secret, order_id="ord_redirect")
    delivery = OutboundDelivery.objects.get(hold=hold)

    assert delivery_send(delivery_id=delivery.pk) == "retry"

    assert len(redirecting.received) == 1
    assert further.received == []
    attempt = OutboundAttempt.objects.get(delivery=delivery)
    assert (attempt.result, attempt.status_code) == (AttemptResult.HTTP_ERROR, 302)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 302
