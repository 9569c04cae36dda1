"""Send test event: a production endpoint asks for a confirmation first, and the result links
to the stored event and to the hold it created."""

import pytest
from django.test import Client
from django.urls import reverse

from webhooks.models import Environment, Event
from webhooks.processing import event_process

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def oscar(staff):
    client = Client()
    client.force_login(staff["oscar"])
    return client


@pytest.fixture
def processed_at_once(monkeypatch):
    """Processing as a worker would run it, as soon as the receiver commits."""
    monkeypatch.setattr(
        "webhooks.receiver.event_enqueue",
        lambda event_id, **_: event_process(event_id=event_id, trigger="queue"),
    )


def _send(client, endpoint, **data):
    url = reverse("admin:webhooks_endpoint_test_event", args=[endpoint.pk])
    response = client.post(url, data, follow=True)
    return response, [str(message) for message in response.context["messages"]]


def test_it_asks_before_a_test_event_on_a_production_endpoint(oscar, make_endpoint):
    endpoint, _ = make_endpoint("procureiq", environment=Environment.PRODUCTION)
    page = oscar.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
    assert 'id="test-event-warning"' in page.content.decode()
    assert 'name="confirm_production"' in page.content.decode()

    _, messages = _send(oscar, endpoint, amount="9000")
    assert "production endpoint" in messages[0] and "Nothing was sent" in messages[0]
    assert not Event.objects.exists()

    _send(oscar, endpoint, amount="9000", confirm_production="yes")
    assert Event.objects.get().is_test


def test_it_sends_to_a_sandbox_endpoint_without_asking(oscar, make_endpoint):
    endpoint, _ = make_endpoint("procureiq", environment=Environment.SANDBOX)
    page = oscar.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
    assert 'id="test-event-warning"' not in page.content.decode()
    _send(oscar, endpoint, amount="10")
    assert Event.objects.get().is_test


def test_it_links_the_result_to_the_event_and_its_hold(
    oscar, make_endpoint, high_value_block, processed_at_once
):
    endpoint, _ = make_endpoint("procureiq", environment=Environment.SANDBOX)
    _, [message] = _send(oscar, endpoint, amount="9000")
    event = Event.objects.get()
    hold = event.hold
    assert hold.is_test
    assert reverse("admin:webhooks_event_change", args=[event.pk]) in message
    assert (
        f'test hold <a href="{reverse("admin:rules_heldorder_change", args=[hold.pk])}" '
        f'id="test-hold-link">{hold.pk}</a>'
    ) in message

    _, [message] = _send(oscar, endpoint, amount="10")
    assert "It created no hold." in message and "test-hold-link" not in message
