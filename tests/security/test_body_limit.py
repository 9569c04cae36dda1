"""Oversized deliveries are refused with 413 before their body is read into memory: through
Django's WSGI handler with an input stream that fails the test if read past the limit, and over
a real socket that announces gigabytes and sends a few bytes."""

import io
import json
import socket

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from tests.signing import autranex_headers
from webhooks.models import Delivery


class Bounded(io.RawIOBase):
    """An endless body that raises if more than `allowed` bytes are ever read from it."""

    def __init__(self, allowed: int, data: bytes | None = None):
        self.allowed, self.taken, self.data = allowed, 0, data

    def readable(self):
        return True

    def read(self, size=-1):
        if size is None or size < 0:
            raise AssertionError("the whole body was asked for")
        if self.data is not None:
            chunk, self.data = self.data[:size], self.data[size:]
            self.taken += len(chunk)
            return chunk
        self.taken += size
        if self.taken > self.allowed:
            raise AssertionError(f"{self.taken} bytes read, more than {self.allowed}")
        return b"x" * size

    def readline(self, size=-1):
        raise AssertionError("the body was read line by line")


def call(environ: dict) -> tuple[int, bytes]:
    """One request through the WSGI handler, as a WSGI server makes it."""
    base = {
        "REQUEST_METHOD": "POST",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_TYPE": "application/json",
    }
    status = []
    # As Django's test client does: the test's transaction must outlive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = WSGIHandler()({**base, **environ}, lambda s, headers: status.append(s))
        body = b"".join(result)
        result.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return int(status[0].split()[0]), body


@pytest.mark.django_db
def test_it_refuses_a_huge_content_length_without_reading_the_body(make_endpoint):
    endpoint, _ = make_endpoint("autranex")
    stream = Bounded(allowed=0)
    status, body = call(
        {"PATH_INFO": endpoint.receiver_path, "CONTENT_LENGTH": str(10 * 1024**3),
         "wsgi.input": stream}
    )  # fmt: skip
    assert status == 413, body
    assert stream.taken == 0
    assert Delivery.objects.get().outcome == "too_large"


@pytest.mark.django_db
def test_it_refuses_a_chunked_body_past_the_limit_reading_one_byte_more(make_endpoint):
    endpoint, _ = make_endpoint("autranex")
    limit = settings.HOOKDESK["MAX_BODY_BYTES"]
    stream = Bounded(allowed=limit + 1)
    status, body = call(
        {"PATH_INFO": endpoint.receiver_path, "HTTP_TRANSFER_ENCODING": "chunked",
         "wsgi.input": stream, "wsgi.input_terminated": True}
    )  # fmt: skip
    assert status == 413, body
    assert Delivery.objects.get().outcome == "too_large"


@pytest.mark.django_db
def test_it_accepts_a_chunked_body_within_the_limit(make_endpoint):
    """The other side of the limit: a server that ends chunked input (gunicorn) delivers it."""
    endpoint, secret = make_endpoint("autranex")
    payload = json.dumps({"event_id": "evt_chunked", "event_type": "order.created",
                          "data": {"order_id": "o1"}}).encode()  # fmt: skip
    headers = autranex_headers(payload, secret)
    status, body = call(
        {"PATH_INFO": endpoint.receiver_path, "HTTP_TRANSFER_ENCODING": "chunked",
         "HTTP_X_AUTRANEX_SIGNATURE": headers["X-Autranex-Signature"],
         "wsgi.input": Bounded(allowed=len(payload), data=payload),
         "wsgi.input_terminated": True}
    )  # fmt: skip
    assert status == 200, body
    assert json.loads(body)["status"] == "received"


@pytest.mark.django_db
def test_it_never_reads_a_chunked_body_a_server_does_not_terminate(make_endpoint):
    """Without wsgi.input_terminated the stream may be the raw socket: nothing is read and the
    delivery, having no body, fails its signature check."""
    endpoint, _ = make_endpoint("autranex")
    stream = Bounded(allowed=0)
    status, _ = call(
        {"PATH_INFO": endpoint.receiver_path, "HTTP_TRANSFER_ENCODING": "chunked",
         "HTTP_X_AUTRANEX_SIGNATURE": "t=1,v1=" + "0" * 64, "wsgi.input": stream}
    )  # fmt: skip
    assert status == 401
    assert stream.taken == 0


def test_it_answers_413_over_a_socket_before_the_body_arrives(wide_live_server, make_endpoint):
    endpoint, _ = make_endpoint("autranex")
    host, port = wide_live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as connection:
        connection.sendall(
            f"POST {endpoint.receiver_path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {50 * 1024**3}\r\n\r\n".encode()
            + b'{"event_id":'
        )
        answer = connection.recv(4096)  # 50 GiB never follow: only an early answer arrives
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
