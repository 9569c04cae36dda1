"""Shared fixtures: endpoints of each scheme and signed deliveries built independently of the
code under test (tests/signing.py)."""

import pytest
import redis
from hypothesis import HealthCheck, settings

from core import queue as core_queue
from tests.support.queue import TEST_REDIS_URL, LoopbackRedisBroker
from webhooks.services import endpoint_create

settings.register_profile(
    "default",
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("default")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The production hasher spends ~0.5 s per password by design; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def static_files_by_plain_name(settings):
    # Pages name static files as the finders serve them, whatever an earlier collectstatic
    # left in var/static: the live server's static handler knows no hashed names.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def fresh_rule_caches():
    # Each process keeps blocks, risk lists and destinations until their generation moves;
    # a test's database starts again from generation 0, so this process forgets its copies.
    from integrations.outbound import destinations_active
    from rules.evaluation import caches_clear

    caches_clear()
    destinations_active.clear()
    yield
    caches_clear()
    destinations_active.clear()


@pytest.fixture
def make_endpoint(db):
    """make_endpoint("autranex", slug=..., installation_key=...) -> (endpoint, secret)."""
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
def redis_queue(monkeypatch):
    """Tasks are queued on a Redis broker (the tests' own database, emptied), and our marks
    (wake-ups, due times) go to the same Redis, as in production."""
    queue = LoopbackRedisBroker()
    queue.connection.flushdb()
    store = redis.from_url(TEST_REDIS_URL)
    monkeypatch.setattr(core_queue, "broker", lambda: queue)
    monkeypatch.setattr(core_queue, "redis_store", lambda: store)
    yield queue
    queue.connection.flushdb()


@pytest.fixture
def qcluster(transactional_db, tmp_path):
    """Start a real django-q2 cluster on the test database: qcluster() -> Cluster,
    qcluster(redis_url=...) for one on a Redis broker, env={...} for settings of its own."""
    from tests.support.cluster import Cluster

    started = []

    def start(*, redis_url: str | None = None, env: dict[str, str] | None = None):
        cluster = Cluster(tmp_path / "qcluster.log", redis_url=redis_url, env=env)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


ROLES = {
    "alice": "Compliance reviewer",
    "oscar": "Operations",
    "audrey": "Auditor",
}


@pytest.fixture
def people(db):
    """Named personas: alice reviews holds, oscar runs operations, audrey audits, mallory has
    an account and no role."""
    from django.contrib.auth.models import Group, User

    users = {}
    for username, role in ROLES.items():
        user = User.objects.create_user(username, password=f"{username}-pass-0123")
        user.groups.add(Group.objects.get(name=role))
        users[username] = user
    users["mallory"] = User.objects.create_user("mallory", password="mallory-pass-0123")
    return users


@pytest.fixture
def api(people):
    """api("alice") -> a DRF test client authenticated with alice's real API token."""
    from rest_framework.test import APIClient

    from core.tokens import api_token_issue

    # Only a token's digest is stored: keep each one issued here to use it again.
    keys: dict[str, str] = {}

    def client_for(username: str | None) -> APIClient:
        client = APIClient()
        if username:
            if username not in keys:
                keys[username] = api_token_issue(user=people[username])
            client.credentials(HTTP_AUTHORIZATION=f"Token {keys[username]}")
        return client

    return client_for
