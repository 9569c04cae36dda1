"""What a browser asks for besides the console's pages: the site root and the favicon."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_it_sends_the_site_root_to_the_console():
    response = Client().get("/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_it_serves_a_favicon_with_long_caching():
    response = Client().get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b"<svg" in response.content
    assert "max-age=604800" in response["Cache-Control"]
