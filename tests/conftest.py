"""Shared fixtures: endpoints of each scheme and signed deliveries built independently of the
code under test (tests/signing.py)."""

import pytest
from hypothesis import HealthCheck, settings

from webhooks.services import endpoint_create

settings.register_profile(
    "default",
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("default")


@pytest.fixture
def make_endpoint(db):
    """make_endpoint("autranex", slug=..., secret=..., key=...) -> (endpoint, secret)."""
    counter = iter(range(1, 10_000))

    def make(provider: str = "autranex", *, slug: str | None = None, **kwargs):
        slug = slug or f"{provider}-{next(counter)}"
        return endpoint_create(slug=slug, provider=provider, **kwargs)

    return make
