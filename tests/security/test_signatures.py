"""Signature checks compare in constant time, and signed timestamps are bounded both ways."""

import ast
import hmac
import inspect
import json
import time

import pytest
from django.conf import settings
from django.test import Client

import webhooks.providers.base as base
import webhooks.receiver as receiver
from tests.signing import as_meta, autranex_headers, procureiq_headers, standard_headers
from webhooks.models import Delivery, Event
from webhooks.providers import SCHEMES, SignatureError

SECRET_WORDS = ("digest", "signature", "expected", "candidate", "mac", "secret")


def _names(node: ast.AST) -> str:
    return " ".join(
        (n.id if isinstance(n, ast.Name) else n.attr).lower()
        for n in ast.walk(node)
        if isinstance(n, ast.Name | ast.Attribute)
    )


@pytest.mark.parametrize(
    "module", [base, receiver, *(inspect.getmodule(type(s)) for s in SCHEMES.values())]
)
def test_it_never_compares_signatures_or_keys_with_equality(module):
    """No ==, != or `in` between two computed values that name a digest, signature or secret:
    only hmac.compare_digest compares those."""
    offenders = []
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        if any(isinstance(operand, ast.Constant) for operand in operands):
            continue  # header syntax: key == "t", version != "v1"
        if any(word in _names(node) for word in SECRET_WORDS):
            offenders.append(ast.unparse(node))
    assert offenders == []


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_it_verifies_every_scheme_through_compare_digest(name, monkeypatch):
    scheme = SCHEMES[name]
    secret = scheme.new_secret()
    now = int(time.time())
    body = b'{"event_id":"e1","event_type":"order.created","data":{}}'
    headers = {k.lower(): v for k, v in scheme.sign(
        body=body, secret=secret, timestamp=now, event_id="msg_1").items()}  # fmt: skip
    calls = []
    real = hmac.compare_digest

    def counting(a, b):
        calls.append(real(a, b))
        return calls[-1]

    monkeypatch.setattr(hmac, "compare_digest", counting)
    kwargs = {"headers": headers, "now": now, "tolerance": 300}
    assert scheme.verify(body=body, secrets=[secret], **kwargs) == 0
    assert True in calls

    calls.clear()
    with pytest.raises(SignatureError):
        scheme.verify(body=body + b" ", secrets=[secret], **kwargs)
    assert calls and True not in calls


def _autranex(endpoint, secret, offset):
    body = json.dumps({"event_id": f"evt_t{offset}", "event_type": "order.created",
                       "data": {"order_id": "o1"}}).encode()  # fmt: skip
    return body, autranex_headers(body, secret, timestamp=int(time.time()) + offset)


def _standard(endpoint, secret, offset):
    body = json.dumps({"type": "order.created", "data": {"order_id": "o1"}}).encode()
    t = int(time.time()) + offset
    return body, standard_headers(body, secret, msg_id=f"msg_{offset}", timestamp=t)


@pytest.mark.django_db
@pytest.mark.parametrize("provider,signer", [("autranex", _autranex), ("standard", _standard)])
def test_it_refuses_timestamps_too_old_and_too_far_in_the_future(make_endpoint, provider, signer):
    endpoint, secret = make_endpoint(provider)
    tolerance = settings.HOOKDESK["TIMESTAMP_TOLERANCE_SECONDS"]
    margin = 60  # far from the edge: a slow test machine must not change the answer
    expected = {
        -(tolerance + margin): 401,
        +(tolerance + margin): 401,
        -(tolerance - margin): 200,
        +(tolerance - margin): 200,
    }
    answers = {}
    for offset in expected:
        body, headers = signer(endpoint, secret, offset)
        response = Client().post(
            endpoint.receiver_path, data=body, content_type="application/json",
            **as_meta(headers),
        )  # fmt: skip
        answers[offset] = response.status_code
    assert answers == expected
    outcomes = list(Delivery.objects.filter(endpoint=endpoint).values_list("outcome", flat=True))
    assert outcomes.count("timestamp_out_of_tolerance") == 2


@pytest.mark.django_db
def test_it_stores_a_replayed_procureiq_delivery_once_whatever_its_unsigned_timestamp(
    make_endpoint,
):
    """ProcureIQ's timestamp header is not signed, so it cannot bound replays: the event id,
    unique per endpoint, does."""
    endpoint, secret = make_endpoint("procureiq")
    body = json.dumps({"id": "evt_replayed", "type": "order.created", "version": "1.0",
                       "created": 1711234601, "data": {"orderId": "o1"}}).encode()  # fmt: skip
    headers = procureiq_headers(body, secret)
    first = Client().post(endpoint.receiver_path, data=body, content_type="application/json",
                          **as_meta(headers))  # fmt: skip
    headers["X-ProcureIQ-Timestamp"] = str(int(time.time()) - 86400)
    replayed = Client().post(endpoint.receiver_path, data=body, content_type="application/json",
                             **as_meta(headers))  # fmt: skip
    assert first.json()["status"] == "received"
    assert replayed.json()["status"] == "duplicate"
    assert Event.objects.filter(endpoint=endpoint).count() == 1
