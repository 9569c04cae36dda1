"""A hookdesk stack on loopback for the benchmarks and the chaos run: a fresh database, a
flushed broker, gunicorn, a django-q2 cluster and receivers for outbound deliveries."""

from stack.hookdesk import (
    django_setup,
    environment,
    fresh_database,
    migrate,
    qcluster,
    redis_flush,
    web,
)
from stack.postgres import PostgresCluster, database_recreate, database_url
from stack.processes import ROOT, Service, StackError, free_port, run, running
from stack.sinks import Sink, black_hole

__all__ = [
    "ROOT",
    "PostgresCluster",
    "Service",
    "Sink",
    "StackError",
    "black_hole",
    "database_recreate",
    "database_url",
    "django_setup",
    "environment",
    "free_port",
    "fresh_database",
    "migrate",
    "qcluster",
    "redis_flush",
    "run",
    "running",
    "web",
]
