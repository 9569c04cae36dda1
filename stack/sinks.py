"""Receivers for hookdesk's outbound deliveries: an HTTP server on loopback that answers as told,
and a black hole that accepts connections and never answers."""

import contextlib
import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from email.message import Message

from stack.processes import HOST

Answer = Callable[[Message, bytes], tuple[int, bytes]]


class Sink:
    """Answers every POST with `answer(headers, body)`: a status and a JSON body. Serves from a
    thread between start() and stop(), or inside a `with` block."""

    def __init__(self, answer: Answer, *, path: str = "/hooks"):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK add ~40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, payload = answer(self.headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "Sink":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "Sink":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


@contextlib.contextmanager
def black_hole(*, path: str = "/hooks") -> Iterator[str]:
    """The URL of a listener whose connections the kernel accepts (from the backlog) and nobody
    ever answers."""
    hole = socket.socket()
    try:
        hole.bind((HOST, 0))
        hole.listen(1024)
        yield f"http://{HOST}:{hole.getsockname()[1]}{path}"
    finally:
        hole.close()
