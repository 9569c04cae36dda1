"""Fuzz target for the receiver as a whole: raw bytes and headers through Django's request
handling into the view, with the database behind it.

Invariants: never a 5xx or an exception; every answer is JSON; a refused delivery stores no
event (but is recorded as a delivery with the status it got); an accepted one stores exactly
the bytes that were sent, and processing it never fails on its shape."""

import secrets as random
import time
from contextlib import contextmanager
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.test import Client, override_settings
from hypothesis import strategies as st

from fuzz import strategies as fs
from fuzz.providers import SAMPLES, reference_headers, signed_by
from fuzz.runner import Property, ServerError, Target, require
from webhooks.models import Delivery, EndpointState, Event
from webhooks.processing import event_consume
from webhooks.providers import OrderView
from webhooks.providers.base import CANONICAL_MAX_LENGTHS
from webhooks.services import endpoint_create

LIMIT = 1024
INSTALLATION_KEY = "InstallationKey-1"
SIGNATURE_REASONS = frozenset(
    {"missing_signature", "malformed_signature", "invalid_signature", "timestamp_out_of_tolerance"}
)


MESSAGE_IDS = st.one_of(
    st.just("msg_1"), st.text(min_size=1, max_size=300), fs.wsgi_text.filter(bool)
)


def _meta(headers: dict[str, str]) -> dict[str, str]:
    meta = {}
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        meta[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return meta


class Receiver:
    """Endpoints of every scheme on the real receiver, and a way to post to them."""

    def __init__(self):
        # Exceptions raised by the view reach the fuzzer instead of becoming a 500 page.
        self.client = Client(SERVER_NAME="127.0.0.1", raise_request_exception=True)
        tag = random.token_hex(4)
        self.endpoints = {}
        for provider in fs.PROVIDERS:
            key = INSTALLATION_KEY if provider == "automation" else None
            endpoint, secret = endpoint_create(
                slug=f"fuzz-{provider}-{tag}", provider=provider, installation_key=key
            )
            # Paused: stored and acknowledged like any other, but nothing is queued, so a fuzz
            # run leaves no work for a cluster.
            endpoint.state = EndpointState.PAUSED
            endpoint.save(update_fields=["state"])
            self.endpoints[provider] = (endpoint, secret)
        disabled, _ = endpoint_create(slug=f"fuzz-disabled-{tag}", provider="autranex")
        disabled.state = EndpointState.DISABLED
        disabled.save(update_fields=["state"])
        self.disabled = disabled
        self.first_delivery = _last_pk(Delivery)

    def path(self, provider: str, *, key: str | None = INSTALLATION_KEY) -> str:
        endpoint, _ = self.endpoints[provider]
        path = endpoint.receiver_path
        if provider == "automation" and key is not None:
            path += f"?key={quote(key, safe='')}"
        return path

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
        """Status and JSON answer, after checking no event was stored for a refusal."""
        newest = _last_pk(Event)
        response = self.client.generic(
            "POST", path, data=body, content_type="application/json", **_meta(headers)
        )
        if response.status_code >= 500:
            raise ServerError(f"{response.status_code} answer: {response.content[:300]!r}")
        require(
            response["Content-Type"] == "application/json",
            f"{response.status_code} answer is {response['Content-Type']}",
        )
        answer = response.json()
        require(isinstance(answer, dict), "the answer is not a JSON object")
        if response.status_code != 200:
            require(
                not Event.objects.filter(pk__gt=newest).exists(),
                f"an event was stored for a {response.status_code} answer",
            )
        return response.status_code, answer

    def delete(self) -> None:
        endpoints = [endpoint for endpoint, _ in self.endpoints.values()] + [self.disabled]
        Event.objects.filter(endpoint__in=endpoints).delete()
        Delivery.objects.filter(pk__gt=self.first_delivery, endpoint__isnull=True).delete()
        for endpoint in endpoints:
            endpoint.delete()


def _last_pk(model) -> int:
    return model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _recorded(status: int) -> None:
    latest = Delivery.objects.order_by("-pk").values_list("status_code", flat=True).first()
    require(latest == status, f"the delivery was recorded as {latest}, answered {status}")


class _RolledBack(Exception):
    pass


def processed_then_rolled_back(event: Event) -> OrderView:
    """Run every consumer on the event, as a worker does, inside a transaction that is then
    rolled back: the database checks every write, and a fuzz run keeps no orders or holds."""
    try:
        with transaction.atomic():
            view = event_consume(event)
            raise _RolledBack(view)
    except _RolledBack as done:
        return done.args[0]


def _fits(view: OrderView) -> None:
    for name, limit in CANONICAL_MAX_LENGTHS.items():
        value = getattr(view, name)
        require(value is None or len(value) <= limit, f"order view {name} longer than {limit}")
    require(view.amount is None or view.amount.is_finite(), "order view amount not finite")


def forged_check(receiver: Receiver):
    """Anything without a valid signature: 401, or 413 when too large."""

    def check(case: tuple[str, bytes, dict]) -> None:
        provider, body, headers = case
        status, answer = receiver.post(receiver.path(provider), body, headers)
        if len(body) > LIMIT:
            require(status == 413, f"{status} for a body over the limit")
        else:
            require(status == 401, f"{status} for a forged delivery")
            require(answer.get("reason") in SIGNATURE_REASONS, f"reason {answer.get('reason')!r}")
        _recorded(status)

    return check


def authentic_check(receiver: Receiver):
    """Correctly signed, any body: stored as sent, or refused as a bad body / too large."""

    def check(case: tuple[str, bytes, str, str]) -> None:
        provider, body, msg_id, user_agent = case
        _, secret = receiver.endpoints[provider]
        headers = {
            **reference_headers(provider, body, secret, int(time.time()), msg_id),
            "User-Agent": user_agent,
        }
        status, answer = receiver.post(receiver.path(provider), body, headers)
        if status == 200:
            require(answer.get("status") in {"received", "duplicate"}, f"answer {answer}")
            stored = Event.objects.get(pk=answer["event"])
            if answer["status"] == "received":
                require(bytes(stored.body) == body, "stored bytes differ from those sent")
                # An authentic payload never fails processing: whatever its shape, its
                # canonical view fits the columns and every consumer's writes are accepted.
                _fits(processed_then_rolled_back(stored))
        elif status == 413:
            require(len(body) > LIMIT, "413 for a body within the limit")
        elif status == 400:
            require(answer.get("reason") == "bad_body", f"400 with reason {answer.get('reason')!r}")
        else:
            # Only the Standard Webhooks id travels in a signed header; an unstorable or
            # too-long id is a malformed header whatever the signature.
            require(
                status == 401 and provider == "standard",
                f"{status} for an authentic {provider} delivery",
            )
            require(answer.get("reason") == "malformed_signature", f"answer {answer}")
        _recorded(status)

    return check


def damaged_check(receiver: Receiver):
    """A correct delivery with one thing broken: whatever the answer, only a delivery the
    endpoint's secret really signed is stored."""

    def check(case: dict) -> None:
        provider = case["provider"]
        _, secret = receiver.endpoints[provider]
        now = int(time.time())
        headers = reference_headers(provider, case["body"], secret, now, "msg_fuzz")
        headers = {name: case["edit"](value) for name, value in headers.items()}
        path = receiver.path(provider, key=case["key"])
        status, _ = receiver.post(path, case["sent_body"], headers)
        if status == 200:
            lowered = {name.lower(): value for name, value in headers.items()}
            require(
                signed_by(provider, case["sent_body"], lowered, secret, int(time.time())),
                "stored a delivery its endpoint's secret did not sign",
            )
            require(case["key"] == INSTALLATION_KEY or provider != "automation", "wrong key")
        _recorded(status)

    return check


def slug_check(receiver: Receiver):
    def check(case: tuple[str, bytes]) -> None:
        slug, body = case
        require(slug not in {e.slug for e, _ in receiver.endpoints.values()}, "a real slug")
        status, _ = receiver.post(f"/webhooks/{quote(slug, safe='')}/", body, {})
        require(status == 404, f"{status} for an unknown or disabled endpoint")

    return check


@st.composite
def damaged_inputs(draw) -> dict:
    provider = draw(st.sampled_from(fs.PROVIDERS))
    body = draw(st.sampled_from(SAMPLES[provider]))
    mutate = draw(st.booleans())
    sent = fs.mutate_json(draw, body) if mutate and draw(st.booleans()) else body
    # Edits are drawn up front so the case is fully determined by the draw.
    edit_text = draw(st.one_of(st.none(), st.text(max_size=3)))
    position = draw(st.integers(0, 200))

    def damage(value: str) -> str:
        if edit_text is None or not mutate:
            return value
        cut = position % (len(value) + 1)
        return value[:cut] + edit_text + value[cut + len(edit_text) :]

    return {
        "provider": provider,
        "body": body,
        "sent_body": sent,
        "edit": damage,
        "key": draw(st.one_of(st.just(INSTALLATION_KEY), st.none(), fs.wsgi_text)),
    }


@contextmanager
def receiver_properties():
    with override_settings(HOOKDESK={**settings.HOOKDESK, "MAX_BODY_BYTES": LIMIT}):
        receiver = Receiver()
        try:
            yield [
                Property(
                    "forged",
                    st.one_of(
                        *(
                            st.tuples(
                                st.just(p),
                                fs.bodies(SAMPLES[p], max_size=2 * LIMIT),
                                fs.header_sets(p),
                            )
                            for p in fs.PROVIDERS
                        )
                    ),
                    forged_check(receiver),
                    3,
                ),
                Property(
                    "authentic",
                    st.one_of(
                        *(
                            st.tuples(
                                st.just(p),
                                fs.bodies(SAMPLES[p], max_size=2 * LIMIT),
                                MESSAGE_IDS,
                                fs.header_values,
                            )
                            for p in fs.PROVIDERS
                        )
                    ),
                    authentic_check(receiver),
                    3,
                ),
                Property("damaged", damaged_inputs(), damaged_check(receiver), 3),
                Property(
                    "unknown slugs",
                    st.tuples(
                        st.one_of(
                            st.text(max_size=150),
                            fs.wsgi_text,
                            st.just(receiver.disabled.slug),
                        ),
                        st.sampled_from(SAMPLES["autranex"]),
                    ),
                    slug_check(receiver),
                ),
            ]
        finally:
            receiver.delete()


TARGETS = [
    Target("receiver", 6, "the receiver view over Django's request handling", receiver_properties)
]
