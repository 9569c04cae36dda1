"""The django-q2 broker every app queues its tasks on."""

import functools

from django_q.brokers import get_broker


@functools.cache
def broker():
    # One broker per process: building one per enqueue costs a connection each time.
    return get_broker()
