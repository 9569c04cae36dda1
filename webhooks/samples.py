"""Correctly signed sample deliveries for an endpoint, handed to this console's receiver in
process or sent over HTTP."""

import dataclasses
import json
import secrets
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from urllib.parse import urlencode, urlsplit

import httpx
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.urls import get_script_prefix, resolve

from core import crypto
from core.ids import ulid
from webhooks.models import Endpoint
from webhooks.providers import SCHEMES, SampleOrder, get_scheme
from webhooks.selectors import secrets_live
from webhooks.test_traffic import TEST_MARKER_HEADER, test_marker


class _DefaultEventTypes(Mapping[str, str]):
    """Each registered scheme's default test event type, by scheme name, read from the
    schemes when asked: a scheme registered later has one too."""

    def __getitem__(self, name: str) -> str:
        return get_scheme(name).default_event_type

    def __iter__(self) -> Iterator[str]:
        return iter(SCHEMES)

    def __len__(self) -> int:
        return len(SCHEMES)


DEFAULT_EVENT_TYPES: Mapping[str, str] = _DefaultEventTypes()


@dataclass(frozen=True)
class SampleDelivery:
    path: str  # receiver path with the query string
    body: bytes
    headers: dict[str, str]
    event_type: str


@dataclass(frozen=True)
class SampleReceipt:
    """What this console's receiver answered to a sample delivery."""

    status_code: int
    body: dict  # the receiver's JSON answer

    @property
    def event_id(self) -> str | None:
        """The hookdesk event that holds the delivery, when the receiver stored it."""
        return self.body.get("event") if self.status_code == 200 else None


# The receiver's URL names: a sample is handed to nothing else.
RECEIVER_VIEWS = {"webhooks:receive", "webhooks:receive-no-slash"}


def sample_delivery(
    *,
    endpoint: Endpoint,
    event_type: str | None = None,
    order_id: str | None = None,
    amount: Decimal = Decimal("5500"),
    customer_id: str | None = None,
    test: bool = False,
) -> SampleDelivery:
    """A delivery signed with the endpoint's primary secret, as its provider would send it.
    With test=True it also carries this deployment's test marker, so the receiver stores it as
    a test event (and its hold, if any, as a test hold)."""
    scheme = get_scheme(endpoint.provider)
    primary = secrets_live(endpoint=endpoint)[0]
    timestamp = int(time.time())
    event_id = "evt_" + ulid()
    event_type = event_type or scheme.default_event_type
    body = scheme.sample_body(
        SampleOrder(
            event_id=event_id,
            event_type=event_type,
            order_id=order_id or "ord_" + secrets.token_hex(8),
            amount=amount,
            customer_id=customer_id or "cus_" + secrets.token_hex(6),
            timestamp=timestamp,
        )
    )
    headers = {"Content-Type": "application/json", "User-Agent": "hookdesk-test-sender/1"}
    if test:
        headers[TEST_MARKER_HEADER] = test_marker(body)
    headers |= scheme.sign(
        body=body,
        secret=crypto.decrypt(primary.encrypted),
        timestamp=timestamp,
        event_id=event_id,
    )
    path = endpoint.receiver_path
    if endpoint.has_installation_key:
        path += "?" + urlencode({"key": crypto.decrypt(endpoint.installation_key_encrypted)})
    return SampleDelivery(path=path, body=body, headers=headers, event_type=event_type)


def sample_fields_dropped(provider: str) -> list[str]:
    """Which of the sample's order value and customer the scheme's sample body cannot carry
    (the Automation API's webhook names only the order and its event type). Asked of the
    scheme itself: the body is built twice with different values and compared."""
    scheme = get_scheme(provider)
    probe = SampleOrder(event_id="evt_probe", event_type=scheme.default_event_type,
                        order_id="ord_probe", amount=Decimal("1"), customer_id="cus_a",
                        timestamp=0)  # fmt: skip
    first = scheme.sample_body(probe)
    dropped = []
    if scheme.sample_body(dataclasses.replace(probe, amount=Decimal("2"))) == first:
        dropped.append("amount")
    if scheme.sample_body(dataclasses.replace(probe, customer_id="cus_b")) == first:
        dropped.append("customer")
    return dropped


def sample_send(
    *, delivery: SampleDelivery, base_url: str, timeout: float = 10.0
) -> httpx.Response:
    """POST the delivery over real HTTP. Redirects are not followed: a receiver answers itself."""
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        return client.post(
            base_url.rstrip("/") + delivery.path, content=delivery.body, headers=delivery.headers
        )


def sample_receive(*, delivery: SampleDelivery) -> SampleReceipt:
    """Hand the delivery to this console's receiver in this process and return its answer.

    The receiver's view gets a WSGI request built as a provider's HTTP delivery arrives: POST
    to the delivery's path and query, its signed headers, the exact signed bytes as the input
    stream, from 127.0.0.1. So the receiver itself checks the size limit and the signature on
    the raw bytes, stores, enqueues after commit and maps a database failure to 503. No socket
    is opened: a web worker serving the test helper never waits for another one to be free.

    Call it outside a transaction, as a request handler is: the receiver's "stored" means
    committed. Raises ValueError for a path that is not the receiver's."""
    request = WSGIRequest(_environ(delivery))
    match = resolve(request.path_info)
    if match.view_name not in RECEIVER_VIEWS:
        raise ValueError(f"{delivery.path!r} is not this console's receiver")
    request.resolver_match = match
    response = match.func(request, *match.args, **match.kwargs)
    if callable(getattr(response, "render", None)):  # a DRF view answers unrendered
        response = response.render()
    # Not response.close(): it signals request_finished, which closes this thread's database
    # connections under the request that is still running.
    return SampleReceipt(status_code=response.status_code, body=json.loads(response.content))


def _environ(delivery: SampleDelivery) -> dict:
    """A WSGI environ for the delivery as a server would build it from an HTTP request to
    the console's public address."""
    public = urlsplit(settings.HOOKDESK["PUBLIC_BASE_URL"])
    path, _, query = delivery.path.partition("?")
    # The path is reversed, so it starts with the script prefix; the server splits it off.
    script_name = get_script_prefix().rstrip("/")
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path.removeprefix(script_name),
        "QUERY_STRING": query,
        "SERVER_NAME": public.hostname or "127.0.0.1",
        "SERVER_PORT": str(public.port or (443 if public.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": public.netloc,
        "CONTENT_LENGTH": str(len(delivery.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": public.scheme or "http",
        "wsgi.input": BytesIO(delivery.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in delivery.headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return environ
