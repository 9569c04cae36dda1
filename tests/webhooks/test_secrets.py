"""Secrets: rotation with grace, bounded old secrets, encryption at rest, never in logs."""

import logging
import time
from datetime import timedelta

import pytest
from django.db import connection

from tests.signing import as_meta, autranex_headers, standard_headers
from webhooks.models import EndpointSecret
from webhooks.selectors import secrets_live
from webhooks.services import (
    SecretError,
    endpoint_create,
    parse_grace,
    secret_expire,
    secret_rotate,
)

BODY = b'{"event_id":"%s","event_type":"order.held","data":{"order_id":"o1","order_value":10}}'


def _deliver(client, endpoint, secret, event_id):
    body = BODY % event_id.encode()
    return client.post(
        endpoint.receiver_path,
        data=body,
        content_type="application/json",
        **as_meta(autranex_headers(body, secret)),
    )


@pytest.mark.django_db
def test_it_accepts_both_secrets_during_the_grace_window_and_only_the_new_one_after(
    client, make_endpoint
):
    endpoint, old = make_endpoint("autranex")
    _, new = secret_rotate(endpoint=endpoint, grace=timedelta(seconds=1))

    assert _deliver(client, endpoint, old, "e1").status_code == 200
    assert _deliver(client, endpoint, new, "e2").status_code == 200

    time.sleep(1.2)

    refused = _deliver(client, endpoint, old, "e3")
    assert refused.status_code == 401
    assert refused.json()["reason"] == "invalid_signature"
    assert _deliver(client, endpoint, new, "e4").status_code == 200


@pytest.mark.django_db
def test_it_refuses_the_old_secret_at_once_with_no_grace(client, make_endpoint):
    endpoint, old = make_endpoint("autranex")
    _, new = secret_rotate(endpoint=endpoint, grace=parse_grace("0"))

    assert _deliver(client, endpoint, old, "e1").status_code == 401
    assert _deliver(client, endpoint, new, "e2").status_code == 200


@pytest.mark.django_db
def test_it_records_when_each_secret_last_verified_a_delivery(client, make_endpoint):
    endpoint, old = make_endpoint("autranex")
    new_secret, _ = secret_rotate(endpoint=endpoint)
    old_secret = endpoint.secrets.exclude(pk=new_secret.pk).get()

    _deliver(client, endpoint, old, "e1")

    old_secret.refresh_from_db()
    new_secret.refresh_from_db()
    assert old_secret.last_verified_at is not None
    assert new_secret.last_verified_at is None


@pytest.mark.django_db
def test_it_keeps_a_bounded_number_of_old_secrets_live(make_endpoint, settings):
    settings.HOOKDESK = {**settings.HOOKDESK, "MAX_LIVE_OLD_SECRETS": 2}
    endpoint, _ = make_endpoint("autranex")
    for _ in range(4):
        secret_rotate(endpoint=endpoint, grace=timedelta(days=7))

    live = secrets_live(endpoint=endpoint)
    assert len(live) == 3
    assert live[0].is_primary
    assert [s.is_primary for s in live[1:]] == [False, False]
    assert EndpointSecret.objects.filter(endpoint=endpoint).count() == 5


@pytest.mark.django_db
def test_it_expires_an_old_secret_now_but_never_the_primary(client, make_endpoint):
    endpoint, old = make_endpoint("autranex")
    primary, new = secret_rotate(endpoint=endpoint, grace=timedelta(days=1))
    previous = endpoint.secrets.exclude(pk=primary.pk).get()

    secret_expire(secret=previous)
    with pytest.raises(SecretError):
        secret_expire(secret=primary)

    assert _deliver(client, endpoint, old, "e1").status_code == 401
    assert _deliver(client, endpoint, new, "e2").status_code == 200


@pytest.mark.parametrize("value", ["", "1", "h", "-1h", "31d", "1w", "1.5h"])
def test_it_refuses_unusable_grace_windows(value):
    with pytest.raises(SecretError):
        parse_grace(value)


@pytest.mark.parametrize(
    ("value", "seconds"), [("0", 0), ("1h", 3600), ("24h", 86400), ("7d", 604800)]
)
def test_it_parses_the_offered_grace_windows(value, seconds):
    assert parse_grace(value).total_seconds() == seconds


@pytest.mark.django_db
@pytest.mark.parametrize("secret", ["short", "whsec_not base64!!", "whsec_c2hvcnQ="])
def test_it_refuses_unusable_standard_webhooks_secrets(secret):
    with pytest.raises(SecretError):
        endpoint_create(slug="std", provider="standard", secret=secret)


@pytest.mark.django_db
def test_it_generates_standard_webhooks_secrets_senders_can_use(client, make_endpoint):
    endpoint, secret = make_endpoint("standard")
    assert secret.startswith("whsec_")
    body = b'{"type":"order.created","timestamp":"2026-01-01T00:00:00Z","data":{}}'
    headers = standard_headers(body, secret, msg_id="msg_1")
    response = client.post(
        endpoint.receiver_path, data=body, content_type="application/json", **as_meta(headers)
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_it_stores_secrets_and_installation_keys_encrypted(make_endpoint):
    endpoint, secret = make_endpoint("automation", installation_key="install-key-0123456789")
    _, rotated = secret_rotate(endpoint=endpoint)

    with connection.cursor() as cursor:
        cursor.execute("SELECT encrypted, fingerprint FROM webhooks_endpointsecret")
        secret_rows = cursor.fetchall()
        cursor.execute("SELECT installation_key_encrypted FROM webhooks_endpoint")
        key_rows = cursor.fetchall()
    stored = repr(secret_rows) + repr(key_rows)

    assert len(secret_rows) == 2
    for plaintext in (secret, rotated, "install-key-0123456789"):
        assert plaintext not in stored
    # Fernet tokens, not encodings of the plaintext.
    assert all(row[0].startswith("gAAAA") for row in secret_rows)


@pytest.mark.django_db
def test_it_never_writes_a_secret_to_the_logs_or_reprs(client, make_endpoint, caplog):
    caplog.set_level(logging.DEBUG)
    endpoint, secret = make_endpoint("autranex", installation_key="install-key-0123456789")
    stored, rotated = secret_rotate(endpoint=endpoint)
    _deliver(client, endpoint, secret, "e1")  # wrong key: refused
    _deliver(client, endpoint, "wrong-secret-000000", "e2")
    path = endpoint.receiver_path + "?key=install-key-0123456789"
    body = BODY % b"e3"
    client.post(
        path, data=body, content_type="application/json", **as_meta(autranex_headers(body, rotated))
    )

    text = caplog.text + repr(stored) + str(stored) + repr(endpoint) + str(endpoint)
    for plaintext in (secret, rotated, "install-key-0123456789"):
        assert plaintext not in text
    assert stored.fingerprint in text
