"""Helpers for tests that need PostgreSQL's concurrency or a second process on the test database."""

import pytest
from django.db import connection


def requires_postgres():
    return pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: real concurrent transactions (DATABASE_URL=postgres://...)",
    )


def test_database_url() -> str:
    """A DATABASE_URL for the test database, for processes the test starts."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
