"""CSRF: enforced on the admin and on session-authenticated API writes, not on the receiver,
whose deliveries are authenticated by their signatures."""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.signing import as_meta, autranex_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser():
    user = User.objects.create_superuser("csrf-root", password="root-pass-0123")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _token(client: Client, page: str) -> str:
    client.get(page)
    return client.cookies["csrftoken"].value


def test_it_refuses_an_admin_form_post_without_a_token(admin_browser):
    form = {"name": "Sneaky", "condition": "order_value > 1", "action": "hold",
            "status": "draft", "priority": 100, "metadata": "{}"}  # fmt: skip
    refused = admin_browser.post("/admin/rules/block/add/", form)
    assert refused.status_code == 403
    assert b"CSRF" in refused.content

    # The same post with the page's token goes through to the form: the 403 was the token.
    token = _token(admin_browser, "/admin/rules/block/add/")
    accepted = admin_browser.post("/admin/rules/block/add/", {**form, "csrfmiddlewaretoken": token})
    assert accepted.status_code in (200, 302)


def test_it_refuses_an_admin_action_and_the_login_form_without_a_token(admin_browser):
    assert admin_browser.post("/admin/logout/").status_code == 403
    anonymous = Client(enforce_csrf_checks=True)
    login = {"username": "csrf-root", "password": "root-pass-0123"}
    assert anonymous.post("/admin/login/", login).status_code == 403


def test_it_refuses_a_session_authenticated_api_write_without_a_token(admin_browser):
    body = {"name": "n", "condition": "order_value > 1"}
    refused = admin_browser.post("/api/v2/blocks/", body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]
    token = _token(admin_browser, "/admin/")
    accepted = admin_browser.post(
        "/api/v2/blocks/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 201


@pytest.mark.parametrize("slash", ["/", ""])
def test_it_takes_signed_deliveries_without_a_csrf_token(make_endpoint, slash):
    endpoint, secret = make_endpoint("autranex")
    body = json.dumps({"event_id": "evt_csrf", "event_type": "order.created",
                       "data": {"order_id": "o1"}}).encode()  # fmt: skip
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"/webhooks/{endpoint.slug}{slash}", data=body, content_type="application/json",
        **as_meta(autranex_headers(body, secret)),
    )  # fmt: skip
    assert response.status_code == 200, response.content
