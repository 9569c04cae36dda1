"""Production settings (HOOKDESK_ENV=production): `check --deploy` is clean, HTTPS is enforced,
and the settings refuse to start without their keys. Each run is a fresh process."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path, **overrides) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HOOKDESK_", "DJANGO_", "SESSION_", "DEBUG", "SECRET_KEY"))
    }
    env |= {
        "HOOKDESK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "hookdesk.example.com",
        "HOOKDESK_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "HOOKDESK_BEHIND_TLS_PROXY": "1",
        "HOOKDESK_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_it_passes_check_deploy_without_a_warning(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_it_warns_in_development_where_https_is_not_configured(tmp_path):
    """The check can fail: the development defaults are what it warns about."""
    env = production_env(tmp_path, HOOKDESK_ENV=None)
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout  # no HSTS


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "HOOKDESK_ENCRYPTION_KEYS"])
def test_it_refuses_to_start_in_production_without_its_keys(tmp_path, missing):
    result = manage(production_env(tmp_path, **{missing: None}), "check")
    assert result.returncode != 0
    assert f"{missing} must be set when HOOKDESK_ENV=production" in result.stderr
    assert not (tmp_path / "secret_key").exists()  # no generated fallback


def test_it_refuses_debug_in_production(tmp_path):
    result = manage(production_env(tmp_path, DEBUG="1"), "check")
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


REQUESTS = """
import django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="hookdesk.example.com")
plain = client.get("/admin/login/")
print("plain", plain.status_code, plain.get("Location", ""))
secure = client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
print("secure", secure.status_code, secure.get("Strict-Transport-Security", ""))
print("cookie", secure.cookies["csrftoken"]["secure"])
"""


def test_it_redirects_to_https_and_sends_hsts_and_secure_cookies(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", REQUESTS], cwd=ROOT, env=production_env(tmp_path),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["plain"] == "301 https://hookdesk.example.com/admin/login/"
    assert lines["secure"].startswith("200 max-age=31536000")
    assert "includeSubDomains" in lines["secure"] and "preload" in lines["secure"]
    assert lines["cookie"] == "True"


def test_it_serves_development_over_plain_http(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
    assert not response.cookies["csrftoken"]["secure"]
