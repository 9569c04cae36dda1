"""A busy or fuzzing API client is slowed down, not the console: past the configured rate its
token (or, anonymous, its address) gets 429 with Retry-After; other tokens, other addresses
and the webhook receiver are not affected."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from config.env import env_rate
from core.tokens import api_token_issue
from tests.admin.conftest import order_created
from tests.support.events import deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    def set_rates(user: str | None = "3/min", anon: str | None = "2/min"):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"user": user, "anon": anon},
        }

    return set_rates


def token_client(user, address: str = "198.51.100.10") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user)}")
    return client


def test_it_answers_429_to_a_token_past_its_rate_and_not_to_another(rates, people):
    rates(user="3/min")
    busy, calm = token_client(people["alice"]), token_client(people["audrey"])

    answers = [busy.get("/api/v2/holds/").status_code for _ in range(3)]
    refused = busy.get("/api/v2/holds/")

    assert answers == [200, 200, 200]
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    assert set(refused.json()) == {"error"} and "throttled" in refused.json()["error"]
    assert 0 < int(refused["Retry-After"]) <= 60
    assert calm.get("/api/v2/holds/").status_code == 200


def test_it_counts_a_token_the_same_from_every_address(rates, people):
    rates(user="2/min")
    user = people["alice"]
    token = api_token_issue(user=user)
    answers = []
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        client = APIClient(REMOTE_ADDR=address)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        answers.append(client.get("/api/v2/holds/").status_code)

    assert answers == [200, 200, 429]


def test_it_throttles_anonymous_requests_per_address_whatever_they_claim(rates):
    rates(anon="2/min")
    fuzzer = APIClient(REMOTE_ADDR="203.0.113.50")

    answers = [
        fuzzer.get("/api/schema/", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code for n in range(3)
    ]
    elsewhere = APIClient(REMOTE_ADDR="203.0.113.51").get("/api/schema/")

    assert answers == [200, 200, 429]
    assert elsewhere.status_code == 200


def test_it_never_throttles_the_webhook_receiver(rates, make_endpoint):
    rates(user="1/min", anon="1/min")
    endpoint, secret = make_endpoint("procureiq")

    events = [deliver(endpoint, secret, order_created(f"ord_rate_{n}", 10)) for n in range(5)]

    assert len({event.pk for event in events}) == 5


def test_it_reads_rates_from_the_environment(monkeypatch):
    monkeypatch.setenv("HOOKDESK_API_RATE_USER", "50/s")
    assert env_rate("HOOKDESK_API_RATE_USER", "1200/min") == "50/s"
    monkeypatch.setenv("HOOKDESK_API_RATE_USER", "off")
    assert env_rate("HOOKDESK_API_RATE_USER", "1200/min") is None
    monkeypatch.delenv("HOOKDESK_API_RATE_USER")
    assert env_rate("HOOKDESK_API_RATE_USER", "1200/min") == "1200/min"
    monkeypatch.setenv("HOOKDESK_API_RATE_USER", "fast")
    with pytest.raises(ImproperlyConfigured, match="HOOKDESK_API_RATE_USER"):
        env_rate("HOOKDESK_API_RATE_USER", "1200/min")
