"""Signatures computed the way each provider's documentation says, written independently of
webhooks.providers so the tests check the receiver against the wire format, not against itself."""

import base64
import hashlib
import hmac
import json
import time


def autranex_headers(body: bytes, secret: str, *, timestamp: int | None = None) -> dict:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Autranex-Signature": f"t={t},v1={digest}", "Content-Type": "application/json"}


def procureiq_headers(body: bytes, secret: str, *, delivery: str = "dlv_1") -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    payload = json.loads(body)
    return {
        "X-ProcureIQ-Signature": f"sha256={digest}",
        "X-ProcureIQ-Event": payload.get("type", ""),
        "X-ProcureIQ-Delivery": delivery,
        "X-ProcureIQ-Timestamp": str(int(time.time())),
        "Content-Type": "application/json",
    }


def automation_headers(body: bytes, secret: str) -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Signature": digest, "Content-Type": "application/json"}


def standard_headers(
    body: bytes, secret: str, *, msg_id: str, timestamp: int | None = None
) -> dict:
    t = int(time.time()) if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{t}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(t),
        "webhook-signature": f"v1,{digest}",
        "Content-Type": "application/json",
    }


def as_meta(headers: dict) -> dict:
    """Headers as Django's test client takes them (HTTP_X_FOO=...)."""
    meta = {}
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        meta[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return meta
