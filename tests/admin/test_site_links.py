"""What a browser asks for besides the console's pages: the site root, the favicon and the
static files."""

import re

import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
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


def test_it_serves_collected_static_files_under_hashed_names_for_a_year(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "core.static_files.StaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    client = Client()

    hashed = staticfiles_storage.url("admin/css/base.css")
    page = client.get("/admin/login/")
    response = client.get(hashed)
    plain = client.get("/static/admin/css/base.css")

    assert re.fullmatch(r"/static/admin/css/base\.[0-9a-f]{12}\.css", hashed), hashed
    assert hashed in page.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=31536000, public, immutable"
    # A plain name may change under the same URL: cached briefly.
    assert plain.status_code == 200
    assert plain["Cache-Control"] == "max-age=60, public"
    compressed = client.get(hashed, headers={"accept-encoding": "gzip"})
    assert compressed["Content-Encoding"] == "gzip"


def test_it_renders_pages_with_plain_static_names_before_collectstatic(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "empty"
    settings.STATIC_ROOT.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "core.static_files.StaticFilesStorage"},
    }
    client = Client()

    page = client.get("/admin/login/")

    assert page.status_code == 200
    assert "/static/admin/css/base.css" in page.content.decode()
    assert client.get("/static/admin/css/base.css").status_code == 200
