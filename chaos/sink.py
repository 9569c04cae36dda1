"""The downstream receiver: a real HTTP server on loopback that records every outbound
delivery hookdesk makes and fails a scripted share of them, so retries and dead letters happen."""

import hashlib
import json
import threading
from collections import Counter

import stack


class Sink(stack.Sink):
    """Answers 200, except: deliveries whose id hashes into `fail_always` get 500 on every
    attempt (they end as dead letters), those in `fail_once` get 500 on their first attempt."""

    def __init__(self, *, fail_always: float = 0.0, fail_once: float = 0.0):
        self.fail_always = fail_always
        self.fail_once = fail_once
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()  # delivery id -> requests
        self.succeeded: Counter[str] = Counter()  # delivery id -> 2xx answers
        self.orders: dict[str, str] = {}  # delivery id -> order id in the notice
        self.malformed = 0
        super().__init__(self._reply, path="/hooks/hookdesk")

    def _reply(self, headers, body: bytes) -> tuple[int, bytes]:
        status = self.answer(headers.get("X-Hookdesk-Delivery", ""), body)
        return status, b'{"ok":true}' if status == 200 else b'{"error":"scripted failure"}'

    def _bucket(self, delivery_id: str) -> float:
        digest = hashlib.sha256(delivery_id.encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32

    def answer(self, delivery_id: str, body: bytes) -> int:
        order_id = ""
        try:
            notice = json.loads(body)
            order_id = str(notice.get("data", notice).get("order_id", ""))
        except (ValueError, AttributeError):
            pass
        with self.lock:
            if not delivery_id:
                self.malformed += 1
                return 400
            self.received[delivery_id] += 1
            if order_id:
                self.orders[delivery_id] = order_id
            bucket = self._bucket(delivery_id)
            if bucket < self.fail_always:
                return 500
            if bucket < self.fail_always + self.fail_once and self.received[delivery_id] == 1:
                return 500
            self.succeeded[delivery_id] += 1
            return 200
