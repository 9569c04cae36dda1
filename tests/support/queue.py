"""What sits on the django-q2 queues."""

import os

import redis
from django_q.brokers.redis_broker import Redis as RedisBroker
from django_q.models import OrmQ
from django_q.signing import SignedPackage


def queued_event_ids() -> list[tuple[str, str]]:
    """(event id, trigger) of every queued processing task, oldest first."""
    return [
        tuple(row.task["args"])
        for row in OrmQ.objects.order_by("id")
        if row.task.get("func") == "webhooks.tasks.process_event"
    ]


# The tests' own Redis database (the chaos test and the benchmarks use others); two suites run
# at once need one each.
TEST_REDIS_URL = os.environ.get("HOOKDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")


class LoopbackRedisBroker(RedisBroker):
    """django-q2's Redis broker, on the tests' Redis database whatever the settings say."""

    @staticmethod
    def get_connection(list_key=None):
        return redis.from_url(TEST_REDIS_URL)


def redis_queued_tasks(queue: RedisBroker) -> list[tuple[str, tuple]]:
    """(function, args) of every task on a Redis queue, oldest first."""
    packages = queue.connection.lrange(queue.list_key, 0, -1)
    return [(task["func"], tuple(task["args"])) for task in map(SignedPackage.loads, packages)]
