"""Fixtures of the pipeline tests."""

import pytest

from webhooks import processing


@pytest.fixture
def consumers(settings):
    """consumers("tests.support.consumers.failing", ...) plugs consumers into processing."""

    def plug(*paths):
        settings.HOOKDESK = {**settings.HOOKDESK, "EVENT_CONSUMERS": list(paths)}
        processing.event_consumers.cache_clear()

    yield plug
    processing.event_consumers.cache_clear()
