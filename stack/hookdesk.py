"""hookdesk's own parts of a stack: the environment every process shares, a migrated database,
a flushed broker, gunicorn serving config.wsgi and a django-q2 cluster."""

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import redis

from stack.postgres import database_recreate
from stack.processes import HOST, ROOT, Service, run


def environment(
    *, database_url: str, secret_key: str, redis_url: str | None = None, **variables: str | None
) -> dict[str, str]:
    """This process's environment pointed at the stack: its database, its broker (none: the ORM
    broker) and one SECRET_KEY for every process, since endpoint secrets are encrypted with a key
    derived from it. `variables` add settings; one given as None is removed."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        "REDIS_URL": redis_url,
        **variables,
    }
    return {name: value for name, value in env.items() if value is not None}


def django_setup(env: dict[str, str]) -> None:
    """Set Django up in this process with the settings the stack's processes run with."""
    for name in set(os.environ) - set(env):
        del os.environ[name]
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def migrate(env: dict[str, str], *, log_path: Path | None = None) -> None:
    run([sys.executable, "manage.py", "migrate", "--noinput"], env=env, log_path=log_path)


def fresh_database(env: dict[str, str], *, log_path: Path | None = None) -> None:
    """Drop and create the database DATABASE_URL names, then migrate it."""
    database_recreate(env["DATABASE_URL"])
    migrate(env, log_path=log_path)


def redis_flush(url: str) -> None:
    redis.Redis.from_url(url).flushdb()


def web(
    env: dict[str, str],
    *,
    port: int,
    workers: int = 2,
    options: Sequence[str] = (),
    log_path: Path | None = None,
) -> Service:
    """gunicorn serving config.wsgi on loopback; `options` are further gunicorn options (its
    defaults otherwise: sync workers, no access log)."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi",
        "--workers",
        str(workers),
        "--bind",
        f"{HOST}:{port}",
        *options,
    ]
    return Service("web", command, env, log_path)


def qcluster(
    env: dict[str, str], *, workers: int | None = None, log_path: Path | None = None
) -> Service:
    """`manage.py qcluster` with `workers` workers (default: HOOKDESK_WORKERS, else 2)."""
    if workers is not None:
        env = {**env, "HOOKDESK_WORKERS": str(workers)}
    return Service("worker", [sys.executable, "manage.py", "qcluster"], env, log_path)
