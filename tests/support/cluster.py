"""A real django-q2 cluster (`manage.py qcluster`) on the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from tests.postgres import test_database_url

ROOT = Path(__file__).resolve().parents[2]


class Cluster:
    def __init__(
        self, log_path: Path, *, redis_url: str | None = None, env: dict[str, str] | None = None
    ):
        extra_env = env
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "SECRET_KEY": settings.SECRET_KEY,
            "HOOKDESK_WORKERS": "1",
        }
        # The test process enqueues on the ORM broker unless the test says otherwise.
        env.pop("REDIS_URL", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
        env |= extra_env or {}
        self.log = open(log_path, "wb")  # noqa: SIM115  closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            # The sentinel stops its workers itself; signalling them too stalls its shutdown.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.2):
    """Poll until predicate() is truthy; return its value or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
