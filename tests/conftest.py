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


@pytest.fixture
def wide_live_server(transactional_db):
    """A real HTTP server on loopback that takes bursts of concurrent connections."""
    from tests.support.live_server import LiveServer

    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture
def qcluster(transactional_db, tmp_path):
    """Start a real django-q2 cluster on the test database: qcluster() -> Cluster."""
    from tests.support.cluster import Cluster

    started = []

    def start():
        cluster = Cluster(tmp_path / "qcluster.log")
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()
