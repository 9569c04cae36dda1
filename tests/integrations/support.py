"""Real receivers on loopback for outbound tests, and signature checks written from each
scheme's documentation, independently of webhooks.providers."""

import base64
import hashlib
import hmac
import http.server
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from django.utils import timezone

from integrations.models import DeliveryStatus, OutboundDelivery
from integrations.outbound import delivery_send


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.monotonic() on arrival
    concurrent: int = 1  # requests in the sink at once, this one included

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"status":"ok"}'
    hang: bool = False
    delay: float = 0.0  # seconds before answering


class Sink:
    """An HTTP(S) server that records every request and answers from a script: `replies` are
    used in order, the last one repeats. A hanging reply never answers until the sink stops."""

    def __init__(self, replies: list[Reply] | None = None, *, tls: ssl.SSLContext | None = None):
        self.replies = list(replies or [Reply()])
        self.received: list[Received] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def setup(self):
                super().setup()
                # Headers and body are two writes: without this, Nagle and delayed ACKs add
                # ~40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                with sink.lock:
                    sink.in_flight += 1
                    sink.received.append(
                        Received(
                            path=parts.path,
                            query=parse_qs(parts.query),
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=body,
                            at=time.monotonic(),
                            concurrent=sink.in_flight,
                        )
                    )
                    index = min(len(sink.received), len(sink.replies)) - 1
                    reply = sink.replies[index]
                try:
                    self._answer(reply)
                finally:
                    with sink.lock:
                        sink.in_flight -= 1

            def _answer(self, reply: Reply) -> None:
                if reply.hang:
                    sink.stopping.wait(30)
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hooks/orders"

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Signature checks, as each scheme's receivers do them -----------------------------------


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def signature_valid(scheme: str, request: Received, secret: str, *, tolerance: int = 300) -> bool:
    headers, body = request.headers, request.body
    if scheme == "autranex":
        items = dict(part.split("=", 1) for part in headers["x-autranex-signature"].split(","))
        if abs(time.time() - int(items["t"])) > tolerance:
            return False
        expected = _mac(secret.encode(), items["t"].encode() + b"." + body).hex()
        return hmac.compare_digest(expected, items["v1"])
    if scheme == "procureiq":
        expected = "sha256=" + _mac(secret.encode(), body).hex()
        return hmac.compare_digest(expected, headers["x-procureiq-signature"])
    if scheme == "automation":
        return hmac.compare_digest(_mac(secret.encode(), body).hex(), headers["x-signature"])
    if scheme == "standard":
        key = base64.b64decode(secret.removeprefix("whsec_"))
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(_mac(key, signed)).decode()
        return any(
            hmac.compare_digest(expected, entry.split(",", 1)[1])
            for entry in headers["webhook-signature"].split()
        )
    raise ValueError(scheme)


# --- Driving the engine as workers and the watchdog do --------------------------------------


def drain(delivery: OutboundDelivery, *, timeout: float = 20.0) -> OutboundDelivery:
    """Send a delivery and each retry as soon as it is due, until it is no longer pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery.refresh_from_db()
        if delivery.status != DeliveryStatus.PENDING:
            return delivery
        wait = 0.0
        if delivery.next_attempt_at is not None:
            wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
        if wait > 0:
            time.sleep(min(wait + 0.01, 0.5))
            continue
        delivery_send(delivery_id=delivery.pk)
    raise AssertionError(f"delivery {delivery.pk} still pending after {timeout} s")
