"""Fuzz target for the REST API: Schemathesis generates requests for every operation of the
live OpenAPI schema (/api/schema/) and checks each answer against it, over real HTTP to a
server on loopback, as a user holding every permission."""

import secrets as random
from contextlib import contextmanager

import requests
import schemathesis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import override_settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fuzz.runner import Property, ServerError, Target, Violation

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


class Console:
    """A live server with a superuser's token, and one of each thing the API shows."""

    def __init__(self):
        from tests.support.live_server import LiveServer

        self.server = LiveServer()
        self.url = self.server.url
        tag = random.token_hex(4)
        self.user = get_user_model().objects.create_superuser(
            f"fuzz-api-{tag}", password=random.token_urlsafe(16)
        )
        token, _ = Token.objects.get_or_create(user=self.user)
        self.headers = {"Authorization": f"Token {token.key}"}
        self.session = requests.Session()
        self.session.headers.update(self.headers)
        self.tag = tag
        self.known: dict = {}

    def _post(self, path: str, payload: dict) -> dict:
        response = self.session.post(f"{self.url}{path}", json=payload, timeout=30)
        response.raise_for_status()
        return response.json()

    def seed(self) -> None:
        """Through the API where it can create things, through the services otherwise."""
        from integrations.models import OutboundDelivery
        from rules.services import event_evaluate
        from webhooks.models import EndpointState, Event
        from webhooks.processing import event_order_view
        from webhooks.services import endpoint_create

        tag = self.tag
        endpoint, _ = endpoint_create(slug=f"fuzz-api-{tag}", provider="autranex")
        endpoint.state = EndpointState.PAUSED  # stored, never queued
        endpoint.save(update_fields=["state"])
        block = self._post(
            "/api/v2/blocks/",
            {"name": f"fuzz {tag}", "condition": "order_value > 0", "action": "hold"},
        )
        destination = self._post(
            "/api/v2/destinations/",
            {"name": f"fuzz {tag}", "adapter": "webhook", "url": "http://127.0.0.1:9/hook"},
        )
        self._post(
            "/api/v2/test/webhook",
            {"endpoint": endpoint.slug, "event_type": "order.held", "order_value": 5500},
        )
        event = Event.objects.filter(endpoint=endpoint).latest("received_at")
        with transaction.atomic():
            hold = event_evaluate(event=event, order_view=event_order_view(event))
        delivery = OutboundDelivery.objects.filter(destination_id=destination["id"]).first()
        self.endpoint = endpoint
        self.known = {
            "block_id": block["block_id"],
            "destination_id": destination["id"],
            "event_id": event.pk,
            "hold_id": hold.pk if hold else None,
            "order_id": event_order_view(event).order_id,
            "delivery_id": delivery.pk if delivery else None,
        }

    def path_parameters(self, operation) -> dict:
        """Real ids for the operation's path, so requests reach past the 404."""
        path = operation.path
        values = {}
        if "{block_id}" in path:
            values["block_id"] = self.known["block_id"]
        if "{order_id}" in path:
            values["order_id"] = self.known["order_id"]
        if "{destination_id}" in path:
            values["destination_id"] = self.known["destination_id"]
        if "{id}" in path:
            if path.startswith("/api/v2/destinations/{destination_id}/"):
                values["id"] = self.known["delivery_id"]
            elif path.startswith("/api/v2/destinations/"):
                values["id"] = self.known["destination_id"]
            elif path.startswith("/api/v2/events/"):
                values["id"] = self.known["event_id"]
            elif path.startswith("/api/v2/holds/"):
                values["id"] = self.known["hold_id"]
        return {name: value for name, value in values.items() if value is not None}

    def stop(self) -> None:
        self.session.close()
        self.server.stop()


def _check(console: Console):
    def check(case) -> None:
        response = case.call(base_url=console.url, session=console.session)
        if response.status_code >= 500:
            raise ServerError(
                f"{response.status_code} from {case.method} {case.formatted_path}\n"
                f"{case.as_curl_command(headers=console.headers)}\n{response.text[:1000]}"
            )
        try:
            case.validate_response(
                response,
                checks=CHECKS,
                headers=console.headers,
                transport_kwargs={"base_url": console.url},
            )
        except FailureGroup as group:
            raise Violation(str(group)) from None

    return check


@contextmanager
def api_properties():
    console = Console()
    try:
        # Every input gets the operation's own answer, not the request rate's 429.
        unthrottled = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"user": None, "anon": None},
        }
        with override_settings(
            HOOKDESK={**settings.HOOKDESK, "SELF_BASE_URL": console.url},
            REST_FRAMEWORK=unthrottled,
        ):
            console.seed()
            schema = schemathesis.openapi.from_url(
                f"{console.url}/api/schema/?format=json", headers=console.headers, timeout=30
            )
            properties = []
            check = _check(console)
            for result in schema.get_all_operations():
                operation = result.ok()
                known = console.path_parameters(operation)
                strategy = operation.as_strategy()
                if known:
                    strategy = st.one_of(strategy, operation.as_strategy(path_parameters=known))
                properties.append(Property(operation.label, strategy, check))
            yield properties
    finally:
        console.stop()


TARGETS = [
    Target("api", 1, "every operation of the live OpenAPI schema (Schemathesis)", api_properties)
]
