"""Where hookdesk's own HTTP requests can go: the test-webhook helper only to this console's
receiver, outbound deliveries never along a redirect."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from config.tokens import api_token_issue
from integrations.models import AttemptResult, DeliveryStatus, OutboundAttempt, OutboundDelivery
from integrations.outbound import delivery_send
from integrations.services import destination_create
from integrations.transport import Transport
from tests.integrations.support import Reply, Sink
from tests.security.conftest import held_order
from webhooks.models import Event


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


def test_it_posts_test_webhooks_only_to_its_own_receiver(
    wide_live_server, operator, make_endpoint, sinks, settings
):
    settings.HOOKDESK = {**settings.HOOKDESK, "SELF_BASE_URL": wide_live_server.url}
    elsewhere = sinks()
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
    settings.HOOKDESK = {**settings.HOOKDESK, "SELF_BASE_URL": elsewhere.url}
    response = operator.post("/api/v2/test/webhook", {"endpoint": slug}, format="json")
    assert response.status_code == 400
    assert elsewhere.received == []


def test_it_does_not_follow_a_redirect_from_its_receiver(operator, make_endpoint, sinks, settings):
    further = sinks()
    redirecting = sinks([Reply(307, headers={"Location": further.url})])
    settings.HOOKDESK = {**settings.HOOKDESK, "SELF_BASE_URL": redirecting.url.rsplit("/", 2)[0]}
    endpoint, _ = make_endpoint("autranex")

    response = operator.post("/api/v2/test/webhook", {"endpoint": endpoint.slug}, format="json")

    assert response.json()["status_code"] == 307
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
