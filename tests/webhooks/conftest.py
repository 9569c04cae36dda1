"""Fixtures of the pipeline tests."""

import pytest

from tests.support.queue import LoopbackRedisBroker
from webhooks import processing


@pytest.fixture
def consumers(settings):
    """consumers("tests.support.consumers.failing", ...) plugs consumers into processing."""

    def plug(*paths):
        settings.HOOKDESK = {**settings.HOOKDESK, "EVENT_CONSUMERS": list(paths)}
        processing.event_consumers.cache_clear()

    yield plug
    processing.event_consumers.cache_clear()


@pytest.fixture
def redis_queue(monkeypatch):
    """Processing enqueues on a Redis broker (the tests' own, emptied), as in production."""
    queue = LoopbackRedisBroker()
    queue.connection.flushdb()
    monkeypatch.setattr(processing, "broker", lambda: queue)
    yield queue
    queue.connection.flushdb()
