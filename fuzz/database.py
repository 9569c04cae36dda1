"""The fuzz run's own database: created and migrated on first use, never a shared one by default."""

import os

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/hookdesk_fuzz"


def configure_environment() -> None:
    """Environment for Django before it is set up: the fuzz database (FUZZ_DATABASE_URL, else
    DATABASE_URL, else hookdesk_fuzz on the local server) and no shared broker, so nothing a
    fuzz run stores is ever queued for a real cluster."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DATABASE_URL"] = (
        os.environ.get("FUZZ_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL
    )
    os.environ["REDIS_URL"] = ""
    os.environ.setdefault("LOG_LEVEL", "WARNING")


def ensure_database() -> None:
    """Create the PostgreSQL database if it is missing, then migrate it."""
    import dj_database_url
    import psycopg2
    from django.core.management import call_command

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    if config["ENGINE"] == "django.db.backends.postgresql":
        admin = psycopg2.connect(
            dbname="postgres",
            user=config.get("USER") or "postgres",
            password=config.get("PASSWORD") or None,
            host=config.get("HOST") or "127.0.0.1",
            port=config.get("PORT") or 5432,
        )
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
            if cursor.fetchone() is None:
                # The name comes from the operator's own DATABASE_URL, quoted as an identifier.
                cursor.execute(f'CREATE DATABASE "{config["NAME"].replace(chr(34), "")}"')
        admin.close()
    call_command("migrate", interactive=False, verbosity=0)
