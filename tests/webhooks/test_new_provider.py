"""Adding a provider is adding one module and its tests: a scheme defined and registered only
here (tests/webhooks/example_scheme.py) receives, verifies and processes like the real ones."""

import hashlib
import hmac
import importlib
import json
import sys
from datetime import UTC, datetime

import pytest

from integrations.envelopes import envelope_body
from tests.signing import as_meta
from webhooks.models import Event, EventStatus
from webhooks.processing import event_process
from webhooks.providers import SCHEMES, provider_choices, register_scheme, unregister_scheme
from webhooks.samples import DEFAULT_EVENT_TYPES, sample_delivery

MODULE = "tests.webhooks.example_scheme"
BODY = json.dumps(
    {
        "id": "ex_evt_1",
        "kind": "order.paid",
        "order": {"ref": "ord_ex_1", "total": 120.5, "currency": "EUR", "buyer": "cus_ex"},
    }
).encode()


@pytest.fixture
def example_scheme():
    """Import the module, which registers its scheme as a real one does; forget it after."""
    sys.modules.pop(MODULE, None)
    module = importlib.import_module(MODULE)
    yield module.ExampleCo.name
    unregister_scheme(module.ExampleCo.name)
    sys.modules.pop(MODULE, None)


def signed(body: bytes, secret: str) -> dict:
    # Written from the scheme's documented format, not with its sign().
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Example-Signature": f"sha256={digest}"}


def post(client, path, body, headers):
    return client.post(path, data=body, content_type="application/json", **as_meta(headers))


def test_it_offers_a_registered_scheme_as_a_provider_choice(example_scheme):
    assert ("exampleco", "ExampleCo") in provider_choices()
    assert DEFAULT_EVENT_TYPES["exampleco"] == "order.placed"


def test_it_is_no_provider_outside_the_tests_that_register_it():
    assert "exampleco" not in SCHEMES
    assert "exampleco" not in dict(provider_choices())


@pytest.mark.django_db
def test_it_receives_and_processes_a_delivery_of_a_new_provider(
    example_scheme, client, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(example_scheme)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, endpoint.receiver_path, BODY, signed(BODY, secret))

    assert response.status_code == 200
    assert response.json()["status"] == "received"
    event = Event.objects.get(pk=response.json()["event"])
    assert (event.provider_event_id, event.event_type) == ("ex_evt_1", "order.paid")

    assert event_process(event_id=event.pk) == EventStatus.PROCESSED
    event.refresh_from_db()
    assert event.order_id == "ord_ex_1"
    assert event.customer_id == "cus_ex"
    assert event.order_view["amount"] == "120.5"
    assert event.order_view["currency"] == "EUR"
    assert event.order_view["upstream_block_id"] is None


@pytest.mark.django_db
def test_it_refuses_a_wrong_signature_for_a_new_provider(example_scheme, client, make_endpoint):
    endpoint, _ = make_endpoint(example_scheme)

    response = post(client, endpoint.receiver_path, BODY, signed(BODY, "not the secret"))

    assert response.status_code == 401
    assert response.json()["reason"] == "invalid_signature"
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_it_sends_a_test_webhook_of_a_new_provider(example_scheme, client, make_endpoint):
    endpoint, _ = make_endpoint(example_scheme)
    delivery = sample_delivery(endpoint=endpoint)

    response = post(client, delivery.path, delivery.body, delivery.headers)

    assert response.status_code == 200
    assert Event.objects.get(pk=response.json()["event"]).event_type == "order.placed"


def test_it_builds_outbound_envelopes_in_a_new_providers_format(example_scheme):
    body = envelope_body(
        scheme=example_scheme,
        event_id="evt_1",
        event_type="order.held",
        created_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        data={"order_id": "ord_1"},
    )

    assert body == (
        b'{"id":"evt_1","kind":"order.held","at":"2024-05-06T07:08:09Z",'
        b'"order":{"order_id":"ord_1"}}'
    )


def test_it_refuses_a_scheme_without_a_label_or_a_name_taken(example_scheme):
    # Imported here, not at the top: importing the module registers the scheme.
    from tests.webhooks.example_scheme import ExampleCo

    class Unlabelled(ExampleCo):
        name = "unlabelled"
        label = ""

    with pytest.raises(ValueError, match="Unlabelled has no label"):
        register_scheme(Unlabelled())
    with pytest.raises(ValueError, match="'exampleco' is already registered"):
        register_scheme(ExampleCo())
    assert "unlabelled" not in SCHEMES
