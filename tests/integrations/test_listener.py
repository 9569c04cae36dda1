"""The AUTRANEX tutorial's Express listener (tests/integrations/listener/server.js, as written in
the tutorial) accepts hookdesk's order.held: the default destination format is AUTRANEX's."""

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from integrations.models import DeliveryStatus, OutboundDelivery
from integrations.outbound import delivery_request
from tests.integrations.support import drain, free_port

LISTENER = Path(__file__).parent / "listener"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None,
    reason="needs Node.js (`node` on PATH) to run the AUTRANEX tutorial's Express listener",
)


def _install_express() -> None:
    if (LISTENER / "node_modules" / "express").is_dir():
        return
    npm = shutil.which("npm")
    assert npm, "Node.js is installed without npm: install npm to fetch express"
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=LISTENER,
        check=True,
        timeout=300,
    )


class Listener:
    def __init__(self, *, port: int, secret: str):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [shutil.which("node"), "server.js"],
            cwd=LISTENER,
            env={**os.environ, "PORT": str(port), "AUTRANEX_WEBHOOK_SECRET": secret},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(f"Webhook listener on port {port}")

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.process.poll() is not None:
                raise AssertionError(f"listener exited: {self.lines}")
            time.sleep(0.05)
        raise AssertionError(f"listener never said {text!r}: {self.lines}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def listener():
    _install_express()
    started = []

    def start(**kwargs) -> Listener:
        started.append(Listener(**kwargs))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def test_it_is_accepted_by_the_tutorials_express_listener(listener, make_destination, hold_order):
    port = free_port()
    destination, secret = make_destination(f"http://127.0.0.1:{port}/webhook/orders")
    running = listener(port=port, secret=secret)

    hold_order("ord_abc123", order_value=5500)
    delivery = drain(OutboundDelivery.objects.get())

    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.log.get().response_snippet == '{"status":"received"}'
    running.wait_for("Order ord_abc123 held:")
    assert "$5500" in running.lines

    # A retry of the same event carries the same event_id: the listener's idempotency holds.
    url, body, headers = delivery_request(delivery=delivery, destination=destination, attempt=2)
    again = httpx.post(url, content=body, headers=headers, timeout=5)
    assert again.json() == {"status": "already_processed"}
    # And what is not signed with the secret is refused.
    forged = httpx.post(url, content=body.replace(b"5500", b"55"), headers=headers, timeout=5)
    assert forged.status_code == 401
