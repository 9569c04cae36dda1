"""The admin login refuses guessing: after repeated failures for a username from one address,
every attempt is refused, the right password included, and the password is never logged."""

import logging
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from core.throttle import login_throttle_forget

pytestmark = pytest.mark.django_db
PASSWORD = "right-pass-0123"


@pytest.fixture
def staff_user(request):
    # A username per test: the counts live in the shared cache, not in the test database.
    user = User.objects.create_user(
        f"staff-{request.node.name[-40:]}", password=PASSWORD, is_staff=True
    )
    yield user
    for address in ("127.0.0.1", "10.0.0.7", "10.0.0.8"):
        login_throttle_forget(username=user.username, address=address)


def login(username: str, password: str, address: str = "127.0.0.1"):
    client = Client(REMOTE_ADDR=address)
    response = client.post("/admin/login/?next=/admin/", {"username": username,
                           "password": password, "next": "/admin/"})  # fmt: skip
    return response, client


def test_it_refuses_even_the_right_password_after_five_failures(staff_user, caplog):
    caplog.set_level(logging.DEBUG)
    for number in range(5):
        response, _ = login(staff_user.username, f"guess-{number}-Vb71")
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()

    response, client = login(staff_user.username, PASSWORD)

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still not logged in
    messages = [record.getMessage() for record in caplog.records]
    assert any("refused: too many failed attempts" in m and staff_user.username in m
               for m in messages)  # fmt: skip
    assert not any(PASSWORD in m or "guess-" in m for m in messages)


def test_it_lets_the_right_password_in_below_the_limit_and_resets_the_count(staff_user):
    for _ in range(2):
        for number in range(4):
            response, _ = login(staff_user.username, f"guess-{number}-Vb71")
            assert response.status_code == 200
        response, client = login(staff_user.username, PASSWORD)
        assert response.status_code == 302
        assert client.get("/admin/").status_code == 200


def test_it_counts_per_address(staff_user):
    for number in range(5):
        login(staff_user.username, f"guess-{number}-Vb71", address="10.0.0.7")
    assert login(staff_user.username, PASSWORD, address="10.0.0.7")[0].status_code == 429
    assert login(staff_user.username, PASSWORD, address="10.0.0.8")[0].status_code == 302


def test_it_lets_the_user_in_again_once_the_window_passed(staff_user, settings):
    settings.HOOKDESK_LOGIN_THROTTLE = {**settings.HOOKDESK_LOGIN_THROTTLE, "WINDOW_SECONDS": 2}
    for number in range(5):
        login(staff_user.username, f"guess-{number}-Vb71")
    assert login(staff_user.username, PASSWORD)[0].status_code == 429
    time.sleep(3)  # past the window, not a timing assertion
    assert login(staff_user.username, PASSWORD)[0].status_code == 302


def test_it_refuses_an_address_that_tries_many_usernames(staff_user, settings):
    settings.HOOKDESK_LOGIN_THROTTLE = {
        **settings.HOOKDESK_LOGIN_THROTTLE,
        "MAX_FAILURES_PER_ADDRESS": 6,
    }
    try:
        for number in range(6):
            login(f"nobody-{number}", "guess-Vb71", address="10.0.0.7")
        assert login(staff_user.username, PASSWORD, address="10.0.0.7")[0].status_code == 429
    finally:
        for number in range(6):
            login_throttle_forget(username=f"nobody-{number}", address="10.0.0.7")
