"""What an endpoint's pages show at once: the receiver URL at the address the console is
reached on (or the configured public one), a slug help text that reads as an example, and an
"Expire now" that asks before it expires a secret."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.admin.conftest import order_created
from tests.signing import as_meta, procureiq_headers
from webhooks.services import secret_rotate

pytestmark = pytest.mark.django_db(transaction=True)

DEFAULT = {"PUBLIC_BASE_URL": "http://127.0.0.1:8000", "PUBLIC_BASE_URL_CONFIGURED": False}


def post_signed(endpoint, secret: str, payload: dict) -> int:
    body = json.dumps(payload).encode()
    headers = as_meta(procureiq_headers(body, secret))
    return (
        Client()
        .post(endpoint.receiver_path, data=body, content_type="application/json", **headers)
        .status_code
    )


def test_it_shows_the_receiver_url_at_the_address_the_console_is_reached_on(
    console, make_endpoint, settings
):
    settings.HOOKDESK = {**settings.HOOKDESK, **DEFAULT}
    endpoint, _ = make_endpoint("procureiq")
    page = console.login("oscar")

    page.goto(console.url + f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    shown = page.inner_text(".hd-receiver-url")
    copied = page.get_attribute(".hd-copy", "data-copy")

    assert shown == copied == console.url + f"/webhooks/{endpoint.slug}/"
    assert ":8000" not in shown
    page.goto(console.url + "/admin/webhooks/endpoint/")
    assert page.inner_text("td.field-receiver_url .hd-receiver-url") == shown


def test_it_shows_the_configured_public_address_when_there_is_one(
    staff, make_endpoint, settings, client
):
    settings.HOOKDESK = {
        **settings.HOOKDESK,
        "PUBLIC_BASE_URL": "https://hooks.example.com/",
        "PUBLIC_BASE_URL_CONFIGURED": True,
    }
    endpoint, _ = make_endpoint("procureiq")
    client.force_login(staff["oscar"])

    page = client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").content.decode()
    listed = client.get("/admin/webhooks/endpoint/").content.decode()

    url = f"https://hooks.example.com/webhooks/{endpoint.slug}/"
    assert f'<code class="hd-receiver-url">{url}</code>' in page
    assert f'<code class="hd-receiver-url">{url}</code>' in listed
    assert "127.0.0.1:8000" not in page


def test_it_shows_the_request_address_on_a_new_secrets_page(staff, settings, client):
    settings.HOOKDESK = {**settings.HOOKDESK, **DEFAULT}
    settings.ALLOWED_HOSTS = ["console.test"]
    client.force_login(staff["oscar"])

    shown = client.post(
        "/admin/webhooks/endpoint/add/",
        {"slug": "fresh", "name": "Fresh", "provider": "procureiq", "environment": "sandbox"},
        HTTP_HOST="console.test:8443",
    ).content.decode()

    assert "http://console.test:8443/webhooks/fresh/" in shown


def test_it_explains_the_slug_with_an_example_url(staff, make_endpoint, client):
    endpoint, _ = make_endpoint("procureiq")
    client.force_login(staff["oscar"])

    add = client.get("/admin/webhooks/endpoint/add/").content.decode()
    change = client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").content.decode()

    for page in (add, change):
        assert "The receiver URL is /webhooks/&lt;slug&gt;/" in page
        assert "/webhooks//" not in page


def test_it_asks_before_expiring_a_secret(console, make_endpoint):
    endpoint, old_secret = make_endpoint("procureiq")
    secret_rotate(endpoint=endpoint, grace=timedelta(hours=1), actor=None)
    old = endpoint.secrets.order_by("created_at", "id").first()
    page = console.login("oscar")
    page.goto(console.url + f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    button = page.locator(f"tr.hd-secret-row[data-fingerprint='{old.fingerprint}'] .hd-expire")
    asked = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    button.click()
    page.wait_for_timeout(300)

    assert len(asked) == 1 and old.fingerprint in asked[0]
    old.refresh_from_db()
    assert old.is_live()
    assert post_signed(endpoint, old_secret, order_created("ord_kept", 10)) == 200

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        button.click()

    assert "expired" in page.inner_text(".messagelist")
    old.refresh_from_db()
    assert old.expires_at <= timezone.now()
    assert post_signed(endpoint, old_secret, order_created("ord_refused", 10)) == 401
