"""The stream of deliveries: a seeded plan, signed at send time, sent by a pool of threads that
retry like real providers do (503 and connection failures, with backoff; re-signed on retry)."""

import base64
import http.client
import json
import random
import secrets
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from webhooks.providers import SampleOrder, get_scheme
from webhooks.providers.automation import EVENT_TYPES as AUTOMATION_EVENT_TYPES

SCHEMES = ("autranex", "procureiq", "automation", "standard")
# Schemes whose envelopes carry an event id: only they can be deduplicated, so only they get
# deliberate duplicates (an Automation API delivery is its own event by definition).
WITH_EVENT_ID = ("autranex", "procureiq", "standard")
# Schemes whose signatures cover a timestamp checked against the tolerance.
WITH_TIMESTAMP = ("autranex", "standard")
HOLD_THRESHOLD = Decimal("5000")
STALE_SECONDS = 3600

# What each kind of delivery must get as its final answer.
EXPECTED = {
    "valid": (200, None),
    "duplicate": (200, None),
    "bad_signature": (401, "invalid_signature"),
    "malformed": (400, "bad_body"),
    "stale": (401, "timestamp_out_of_tolerance"),
}


@dataclass
class Event:
    """One provider event: what it says and where it goes."""

    scheme: str
    event_id: str | None
    event_type: str
    order_id: str
    amount: Decimal | None
    body: bytes

    @property
    def should_hold(self) -> bool:
        if self.scheme == "autranex" and self.event_type == "order.held":
            return True  # held upstream: recorded whatever our blocks say
        return self.amount is not None and self.amount > HOLD_THRESHOLD


@dataclass
class Delivery:
    """One planned HTTP delivery and, once sent, what happened to it."""

    index: int
    kind: str  # valid, duplicate, bad_signature, malformed, stale
    event: Event
    concurrent_with: "Delivery | None" = None  # sent at the same instant as this one
    # Outcome, filled by the sender.
    attempts: list[tuple[float, float, str]] = field(default_factory=list)  # start, end, outcome
    status: int | None = None
    answer: dict = field(default_factory=dict)
    ambiguous: bool = False  # a try may have reached the server before the connection broke

    @property
    def expected_status(self) -> int:
        return EXPECTED[self.kind][0]

    @property
    def expected_reason(self) -> str | None:
        return EXPECTED[self.kind][1]


@dataclass
class Target:
    scheme: str
    path: str  # receiver path, with ?key= for an endpoint with an installation key
    secret: str
    wrong_secret: str


def wrong_secret_for(scheme: str) -> str:
    if scheme == "standard":
        return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    return "wrong_" + secrets.token_hex(16)


def _order_event(rng: random.Random, scheme: str, serial: int) -> Event:
    order_id = f"ord_chaos_{scheme[:3]}_{serial:06d}"
    event_id = f"evt_chaos_{serial:06d}_{rng.getrandbits(32):08x}"
    customer_id = f"cus_chaos_{rng.randrange(500):03d}"
    timestamp = int(time.time())
    if rng.random() < 0.2:
        amount = Decimal(rng.randrange(5001, 20000))
    else:
        amount = Decimal(rng.randrange(10, 5000))
    if scheme == "automation":
        event_type = rng.choice(AUTOMATION_EVENT_TYPES)
        amount = None  # the Automation API's webhook names the order, nothing more
        event_id = None
    elif scheme == "autranex":
        event_type = "order.held" if rng.random() < 0.05 else "order.created"
    else:
        event_type = "order.created"
    body = get_scheme(scheme).sample_body(
        SampleOrder(
            event_id=event_id or "",
            event_type=event_type,
            order_id=order_id,
            amount=amount if amount is not None else Decimal(0),
            customer_id=customer_id,
            timestamp=timestamp,
        )
    )
    return Event(scheme, event_id, event_type, order_id, amount, body)


def _malformed_event(rng: random.Random, scheme: str, serial: int) -> Event:
    event_id = f"evt_chaos_bad_{serial:06d}"
    body = rng.choice(
        [
            b'{"event_id": "' + event_id.encode() + b'", "data": {',  # cut off
            b"[1, 2, 3]",  # not an object
            json.dumps({"note": event_id}).encode(),  # required fields missing
        ]
    )
    return Event(scheme, event_id, "", "", None, body)


def plan(*, deliveries: int, seed: int) -> list[Delivery]:
    """`deliveries` HTTP deliveries: 10% duplicates (some concurrent with their original), 5%
    bad signatures, 1% malformed bodies, 1% stale timestamps, the rest new events."""
    rng = random.Random(seed)
    remaining = Counter(
        duplicate=deliveries // 10,
        bad_signature=deliveries // 20,
        malformed=deliveries // 100,
        stale=deliveries // 100,
    )
    remaining["valid"] = deliveries - sum(remaining.values())
    stream: list[Delivery] = []
    originals: list[Delivery] = []
    serial = 0
    while sum(remaining.values()) > 0:
        kinds = [k for k, n in remaining.items() if n > 0]
        kind = rng.choices(kinds, weights=[remaining[k] for k in kinds])[0]
        if kind == "duplicate" and not originals:
            kind = "valid" if remaining["valid"] else kind
            if kind == "duplicate":
                continue  # unreachable with a sane mix; no original to repeat yet
        serial += 1
        if kind == "valid":
            event = _order_event(rng, rng.choice(SCHEMES), serial)
            delivery = Delivery(len(stream), kind, event)
            if event.event_id is not None:
                originals.append(delivery)
            stream.append(delivery)
        elif kind == "duplicate":
            if rng.random() < 0.3 and remaining["valid"] > 0:
                # A concurrent pair: a new event and its duplicate in flight at once.
                event = _order_event(rng, rng.choice(WITH_EVENT_ID), serial)
                first = Delivery(len(stream), "valid", event)
                second = Delivery(len(stream) + 1, "duplicate", event, concurrent_with=first)
                first.concurrent_with = second
                stream += [first, second]
                originals.append(first)
                remaining["valid"] -= 1
            else:
                original = rng.choice(originals[-2000:])
                stream.append(Delivery(len(stream), kind, original.event))
        elif kind == "bad_signature":
            event = _order_event(rng, rng.choice(SCHEMES), serial)
            stream.append(Delivery(len(stream), kind, event))
        elif kind == "malformed":
            event = _malformed_event(rng, rng.choice(SCHEMES), serial)
            stream.append(Delivery(len(stream), kind, event))
        elif kind == "stale":
            event = _order_event(rng, rng.choice(WITH_TIMESTAMP), serial)
            stream.append(Delivery(len(stream), kind, event))
        remaining[kind] -= 1
    return stream


def signed_headers(delivery: Delivery, target: Target) -> dict[str, str]:
    """Headers for one try, signed now (a provider signs each retry afresh)."""
    event = delivery.event
    timestamp = int(time.time())
    if delivery.kind == "stale":
        timestamp -= STALE_SECONDS
    secret = target.wrong_secret if delivery.kind == "bad_signature" else target.secret
    headers = {"Content-Type": "application/json", "User-Agent": "hookdesk-chaos/1"}
    headers |= get_scheme(event.scheme).sign(
        body=event.body,
        secret=secret,
        timestamp=timestamp,
        event_id=event.event_id
        or (f"msg_{delivery.index}" if event.scheme == "standard" else None),
    )
    return headers


# Connection failures a provider retries. ConnectionRefused happens before anything is sent;
# the others may come after the server read (and committed) the request.
BEFORE_SENDING = (ConnectionRefusedError,)
RETRIED_ERRORS = (
    ConnectionError,
    http.client.HTTPException,
    socket.timeout,
    TimeoutError,
    OSError,
)


class Sender:
    """Sends the plan through `concurrency` threads, at most `rate` deliveries a second."""

    def __init__(
        self,
        *,
        port: int,
        targets: dict[str, Target],
        concurrency: int,
        rate: float | None,
        max_tries: int = 40,
        timeout: float = 30.0,
    ):
        self.port = port
        self.targets = targets
        self.concurrency = concurrency
        self.rate = rate
        self.max_tries = max_tries
        self.timeout = timeout
        self.done = 0
        self.lock = threading.Lock()
        self.started_at = 0.0
        self.finished_at = 0.0
        self._next_slot = 0.0

    def _pace(self) -> None:
        if not self.rate:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(self._next_slot, now)
            self._next_slot = slot + 1.0 / self.rate
        if slot > now:
            time.sleep(slot - now)

    def _try(self, delivery: Delivery) -> tuple[int | None, dict, str]:
        target = self.targets[delivery.event.scheme]
        headers = signed_headers(delivery, target)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            connection.request("POST", target.path, body=delivery.event.body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except BEFORE_SENDING as error:
            return None, {}, f"refused:{type(error).__name__}"
        except RETRIED_ERRORS as error:
            delivery.ambiguous = True
            return None, {}, f"error:{type(error).__name__}"
        finally:
            connection.close()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = {"raw": raw[:200].decode("utf-8", "replace")}
        return response.status, answer, str(response.status)

    def send(self, delivery: Delivery) -> None:
        """Send until a final answer: 2xx or 4xx. 503 and connection failures are retried
        with backoff; so is any other 5xx (recorded: the run fails on them)."""
        delay = 0.1
        for _ in range(self.max_tries):
            started = time.time()
            status, answer, outcome = self._try(delivery)
            delivery.attempts.append((started, time.time(), outcome))
            if status is not None and status < 500:
                delivery.status, delivery.answer = status, answer
                return
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 3.0)

    def _send_item(self, delivery: Delivery) -> None:
        self._pace()
        partner = delivery.concurrent_with
        if partner is not None and partner.index > delivery.index:
            # Both copies leave together: the receiver sees them in flight at the same time.
            barrier = threading.Barrier(2)

            def second():
                barrier.wait()
                self.send(partner)

            helper = threading.Thread(target=second)
            helper.start()
            barrier.wait()
            self.send(delivery)
            helper.join()
            count = 2
        else:
            self.send(delivery)
            count = 1
        with self.lock:
            self.done += count

    def run(self, stream: list[Delivery]) -> None:
        self.started_at = time.time()
        items = [
            d for d in stream if d.concurrent_with is None or d.concurrent_with.index > d.index
        ]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for future in [pool.submit(self._send_item, item) for item in items]:
                future.result()
        self.finished_at = time.time()

    def progress(self, total: int) -> float:
        with self.lock:
            return self.done / total if total else 1.0


def receiver_path(slug: str, key: str | None) -> str:
    path = f"/webhooks/{slug}/"
    return path + ("?" + urlencode({"key": key}) if key else "")
