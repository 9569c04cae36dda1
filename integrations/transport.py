"""Outbound HTTP: one POST with explicit timeouts, no redirects, a bounded read of the answer."""

import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx


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
    ):
        self.key = key
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
                timeout=httpx.Timeout(self.timeout),
                verify=self.ssl_context(),
                follow_redirects=False,  # a receiver answers itself; a 3xx is a failure
                headers={"User-Agent": self.user_agent},
                limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
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
