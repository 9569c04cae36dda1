"""The django-q2 broker every app queues its tasks on, and the Redis our own marks live in.

Marks (an endpoint's queued wake-up, a job's due time) are ours, not the broker's: they go
through a Redis client of our own on the broker's Redis, under keys named after the cluster,
never through the broker's private connection or keys."""

import functools
import logging

import redis
from django.conf import settings
from django_q.brokers import get_broker
from django_q.tasks import async_task

logger = logging.getLogger(__name__)


@functools.cache
def broker():
    # One broker per process: building one per enqueue costs a connection each time.
    return get_broker()


def task_enqueue(task: str, *args, **options) -> bool:
    """Queue `task(*args)` on the shared broker. A failed enqueue is logged and answered
    False, not raised: every caller's work is already stored, and its sweep queues it again."""
    try:
        async_task(task, *args, broker=broker(), hook=None, **options)
    except Exception:
        logger.warning("enqueue of %s%r failed; the sweep will pick it up", task, args,
                       exc_info=True)  # fmt: skip
        return False
    return True


@functools.cache
def redis_store() -> redis.Redis | None:
    """A client on the broker's Redis (Q_CLUSTER["redis"]), or None with the database broker.

    redis-py's pool notices a fork and reconnects in the child, so one client per process
    is safe under the cluster's forked workers."""
    config = settings.Q_CLUSTER.get("redis")
    if not config:
        return None
    if isinstance(config, str):
        return redis.Redis.from_url(config)
    return redis.Redis(**config)


def store_key(*parts) -> str:
    """A key of ours in the broker's Redis, under the cluster's name."""
    return ":".join(("hookdesk", settings.Q_CLUSTER["name"], *map(str, parts)))
