"""Outbound HTTP: one POST with explicit timeouts, no redirects, a bounded read of the answer,
and connections only to addresses the URL guard accepts, checked as each connection is made."""

import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpcore
import httpx

from integrations import url_guard


class TransportError(Exception):
    """The request got no HTTP answer. `permanent` stops retries; `kind` is an AttemptResult."""

    def __init__(self, message: str, *, permanent: bool = False, kind: str = "connection"):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.kind = kind


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: dict[str, str]
    snippet: str
    duration_ms: float


def _is_tls_failure(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(error)


class GuardedBackend(httpcore.SyncBackend):
    """Opens each TCP connection to an address checked by the URL guard as it connects.

    The host is resolved here, every address it resolves to is checked, and the socket is
    connected to a checked address, never to the name again: the system's resolver could
    answer otherwise a moment later (DNS rebinding). httpcore then sets up TLS with the URL's
    host name, so SNI and certificate verification are for the name, as the Host header is."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = url_guard.addresses_checked(host, port)
        except url_guard.HostUnresolvable as error:
            # Not the guard's refusal: DNS may answer again later, so this is retried.
            raise httpcore.ConnectError(str(error)) from None
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as error:
                failure = error  # the next address may answer, as with socket.create_connection
        raise failure


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport, its connection pool opening connections through GuardedBackend."""

    def __init__(self, *, ssl_context: ssl.SSLContext, limits: httpx.Limits):
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        # httpx 0.29 takes no network backend (encode/httpx#3749 proposes one): the pool it
        # built is replaced by the same pool with ours. Should httpx keep its pool elsewhere
        # one day, fail here rather than connect unguarded.
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("httpx.HTTPTransport no longer keeps its pool in _pool")
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(),
        )


class Transport:
    """Posts to one destination. Clients are kept per destination configuration, so consecutive
    deliveries reuse connections; a changed destination gets a new client."""

    _clients: "OrderedDict[tuple, httpx.Client]" = OrderedDict()
    _lock = threading.Lock()
    MAX_CLIENTS = 64

    def __init__(
        self,
        *,
        key: tuple,
        timeout: float,
        ssl_context: Callable[[], ssl.SSLContext],
        user_agent: str,
        connections: int = 4,
    ):
        self.key = key
        # Connections kept open to the destination, per process: as many as a drain sends at
        # once, so its threads do not queue for a connection or open a new one each time.
        self.connections = connections
        self.timeout = timeout
        # Called only when no client is kept for `key`: loading CA stores and client
        # certificates is the expensive part of a new client.
        self.ssl_context = ssl_context
        self.user_agent = user_agent

    def _client(self) -> httpx.Client:
        with self._lock:
            client = self._clients.get(self.key)
            if client is not None:
                self._clients.move_to_end(self.key)
                return client
            client = httpx.Client(
                transport=GuardedTransport(
                    ssl_context=self.ssl_context(),
                    limits=httpx.Limits(
                        max_connections=self.connections,
                        max_keepalive_connections=self.connections,
                    ),
                ),
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=False,  # a receiver answers itself; a 3xx is a failure
                headers={"User-Agent": self.user_agent},
                # No proxy from the environment: the guard must see the address connected to.
                trust_env=False,
            )
            self._clients[self.key] = client
            while len(self._clients) > self.MAX_CLIENTS:
                _, evicted = self._clients.popitem(last=False)
                evicted.close()
            return client

    @classmethod
    def forget_all(cls) -> None:
        with cls._lock:
            for client in cls._clients.values():
                client.close()
            cls._clients.clear()

    def post(self, *, url: str, body: bytes, headers: dict[str, str], snippet_bytes: int) -> Answer:
        """POST `body`; raise TransportError when no HTTP answer came back in time."""
        started = time.monotonic()
        try:
            url_guard.url_target(url)
        except url_guard.UrlRefused as error:
            raise TransportError(str(error), permanent=True, kind="configuration") from None
        # httpx times each phase (connect, write, each read); the deadline also bounds a
        # receiver that trickles its answer out byte by byte.
        deadline = started + 2 * self.timeout
        try:
            with self._client().stream("POST", url, content=body, headers=headers) as response:
                collected = bytearray()
                for chunk in response.iter_bytes():
                    collected += chunk
                    if len(collected) >= snippet_bytes or time.monotonic() > deadline:
                        break
                return Answer(
                    status_code=response.status_code,
                    headers={k.lower(): v for k, v in response.headers.items()},
                    snippet=bytes(collected[:snippet_bytes]).decode("utf-8", "replace"),
                    duration_ms=(time.monotonic() - started) * 1000,
                )
        except url_guard.UrlRefused as error:
            # Raised by GuardedBackend: the host resolves, now, to an address destinations may
            # not reach. No request was sent; retrying cannot help until the URL is changed.
            raise TransportError(
                f"refused to connect: {error}", permanent=True, kind="configuration"
            ) from None
        except httpx.TimeoutException as error:
            raise TransportError(
                f"timed out after {self.timeout:g} s ({type(error).__name__})", kind="timeout"
            ) from None
        except httpx.HTTPError as error:
            if _is_tls_failure(error):
                raise TransportError(f"TLS failure: {error}"[:400], kind="tls") from None
            raise TransportError(
                f"{type(error).__name__}: {error}"[:400], kind="connection"
            ) from None


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
