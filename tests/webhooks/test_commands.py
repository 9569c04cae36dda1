"""Operator commands: secrets and tokens alone on the last line of standard output."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from core.tokens import token_digest
from tests.signing import as_meta, autranex_headers
from webhooks.models import Endpoint, Event, EventStatus
from webhooks.processing import event_process


def run(*args, **kwargs) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def last_line(text: str) -> str:
    return text.rstrip("\n").split("\n")[-1]


@pytest.mark.django_db
def test_it_creates_an_endpoint_and_prints_a_working_secret_last(client):
    out, err = run("create_endpoint", "acme", "--provider", "autranex", "--environment", "sandbox")
    secret = last_line(out)
    endpoint = Endpoint.objects.get(slug="acme")
    assert (endpoint.provider, endpoint.environment) == ("autranex", "sandbox")
    assert "/webhooks/acme/" in err

    body = b'{"event_id":"e1","event_type":"order.held","data":{"order_id":"o1"}}'
    response = client.post(
        endpoint.receiver_path,
        data=body,
        content_type="application/json",
        **as_meta(autranex_headers(body, secret)),
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_it_creates_an_endpoint_with_the_given_secret_and_key():
    out, _ = run(
        "create_endpoint",
        "auto",
        "--provider",
        "automation",
        "--secret",
        "given-secret-0123456789",
        "--key",
        "inst-1",
    )
    assert last_line(out) == "given-secret-0123456789"
    assert Endpoint.objects.get(slug="auto").has_installation_key


@pytest.mark.django_db
def test_it_refuses_a_duplicate_slug_with_a_message():
    run("create_endpoint", "dup", "--provider", "procureiq")
    with pytest.raises(CommandError, match=r"(?i)slug already exists"):
        run("create_endpoint", "dup", "--provider", "procureiq")


@pytest.mark.django_db
def test_it_rotates_and_prints_the_new_secret_last(make_endpoint):
    endpoint, old = make_endpoint("procureiq", slug="rot")
    out, err = run("rotate_secret", "rot", "--grace", "1h")
    new = last_line(out)
    assert new != old
    assert endpoint.secrets.count() == 2
    assert old not in out + err


@pytest.mark.django_db
def test_it_refuses_a_bad_grace_window(make_endpoint):
    make_endpoint("procureiq", slug="rot")
    with pytest.raises(CommandError, match="grace"):
        run("rotate_secret", "rot", "--grace", "forever")


@pytest.mark.django_db
def test_it_prints_an_api_token_last():
    user = get_user_model().objects.create_user("alice")
    out, _ = run("create_api_token", "alice")
    # Stored as a digest only: the printed token is the one whose digest is on record.
    assert Token.objects.get(user=user).key == token_digest(last_line(out))


@pytest.mark.django_db
def test_it_seeds_the_demo_idempotently(monkeypatch):
    monkeypatch.delenv("HOOKDESK_ADMIN_PASSWORD", raising=False)
    first, _ = run("seed_demo")
    second, _ = run("seed_demo")

    slugs = set(Endpoint.objects.values_list("slug", flat=True))
    assert slugs == {"autranex-demo", "procureiq-demo", "automation-demo", "standard-demo"}
    assert get_user_model().objects.get(username="admin").is_superuser
    assert "password" in first
    assert "password" not in second
    assert first.count("secret:") == second.count("secret:") == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("provider", "event_type"),
    [
        ("autranex", "order.held"),
        ("procureiq", "order.created"),
        ("automation", "OrderAccepted"),
        ("standard", "order.created"),
    ],
)
def test_it_sends_a_signed_test_webhook_over_http(wide_live_server, provider, event_type):
    run("create_endpoint", "demo", "--provider", provider, "--key", "k-1")
    out, _ = run(
        "send_test_webhook",
        "demo",
        "--event-type",
        event_type,
        "--order-id",
        "ord_42",
        "--amount",
        "6100",
        "--base-url",
        wide_live_server.url,
    )
    assert last_line(out).startswith('200 {"status": "received"')
    event = Event.objects.get()
    assert event.event_type == event_type

    assert event_process(event_id=event.pk) == EventStatus.PROCESSED
    event.refresh_from_db()
    assert event.order_id == "ord_42"
    if provider != "automation":
        assert event.order_view["amount"] in ("6100", "6100.0")


@pytest.mark.django_db
def test_it_reports_an_unreachable_receiver():
    run("create_endpoint", "demo", "--provider", "autranex")
    with pytest.raises(CommandError, match="could not reach"):
        run("send_test_webhook", "demo", "--event-type", "order.held", "--base-url",
            "http://127.0.0.1:9")  # fmt: skip
