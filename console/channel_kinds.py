"""Each kind of alert channel in one class: what its target looks like, what may be shown of
it, and how a message is sent through it (e-mail, a Slack-compatible incoming webhook, a signed
generic webhook). Adding a kind is adding one class to `KINDS`."""

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email

from core import crypto
from core.errors import Invalid
from integrations.url_guard import HostUnresolvable, UrlRefused, url_check
from webhooks.providers import get_scheme
from webhooks.providers.base import compact_json

USER_AGENT = "hookdesk-alerts/1"
# At most this much of a receiver's answer is read, and shown with a failure.
ANSWER_BYTES = 2048
ANSWER_SHOWN = 200
MAX_RECIPIENTS = 20


class ChannelError(Invalid):
    """A channel's configuration cannot be used."""


@dataclass(frozen=True)
class Outcome:
    """What one send gave. `permanent` says a retry cannot help (the receiver refused the
    message itself: a 4xx, a redirect)."""

    ok: bool
    status_code: int | None = None
    error: str = ""
    duration_ms: float = 0.0
    permanent: bool = False


@dataclass(frozen=True)
class Message:
    """The part of a channel message a kind needs to send it."""

    id: str
    event: str
    subject: str
    text: str
    data: dict
    link: str
    created_at_iso: str


class ChannelKindBase(ABC):
    kind: str
    signed = False

    @abstractmethod
    def target_clean(self, target: str) -> str:
        """The target normalised, or ChannelError(field="target")."""

    @abstractmethod
    def target_display(self, target: str) -> str:
        """What may be shown and logged of the target."""

    @abstractmethod
    def send(self, *, message: Message, target: str, secret: str, timeout: float) -> Outcome:
        """Send `message`; never raises for a failure of the receiver."""


class EmailKind(ChannelKindBase):
    kind = "email"

    def target_clean(self, target: str) -> str:
        addresses = [address.strip() for address in target.split(",") if address.strip()]
        if not addresses:
            raise ChannelError("give one or more e-mail addresses", field="target")
        if len(addresses) > MAX_RECIPIENTS:
            raise ChannelError(f"at most {MAX_RECIPIENTS} addresses", field="target")
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ChannelError(f"not an e-mail address: {address}", field="target") from None
        return ", ".join(addresses)

    def target_display(self, target: str) -> str:
        return target

    def send(self, *, message: Message, target: str, secret: str, timeout: float) -> Outcome:
        started = time.monotonic()
        body = message.text + (f"\n\n{message.link}" if message.link else "")
        try:
            send_mail(
                subject=f"[hookdesk] {message.subject}",
                message=body,
                from_email=None,
                recipient_list=[address.strip() for address in target.split(",")],
            )
        except Exception as error:
            return Outcome(False, error=f"{type(error).__name__}: {error}"[:500],
                           duration_ms=_since(started))  # fmt: skip
        return Outcome(True, duration_ms=_since(started))


def url_clean(url: str) -> str:
    """A webhook URL that outbound deliveries could be sent to as well: the destinations' URL
    guard (scheme, port, and every address the host resolves to public or allowed)."""
    url = url.strip()
    try:
        url_check(url)
    except UrlRefused as refusal:
        raise ChannelError(str(refusal), field="target") from None
    return url


class SlackKind(ChannelKindBase):
    """Slack's incoming webhooks, and the chat servers that copy them (Mattermost, Rocket.Chat,
    Discord's /slack endpoint): POST {"text": "..."}. The URL's path is the credential, so only
    its host and a fingerprint are ever shown."""

    kind = "slack"

    def target_clean(self, target: str) -> str:
        return url_clean(target)

    def target_display(self, target: str) -> str:
        return f"{urlsplit(target).hostname} · {crypto.fingerprint(target)}"

    def send(self, *, message: Message, target: str, secret: str, timeout: float) -> Outcome:
        lines = [f"*{message.subject}*", message.text]
        if message.link:
            lines.append(message.link)
        body = compact_json({"text": "\n".join(lines)})
        return http_post(
            url=target,
            body=body,
            headers={"Content-Type": "application/json"},
            timeout=timeout,
            shown=self.target_display(target),
        )


class WebhookKind(ChannelKindBase):
    """A generic receiver: POST {"type", "timestamp", "data"} signed with the Standard Webhooks
    scheme (webhook-id, webhook-timestamp, webhook-signature) and the channel's own secret."""

    kind = "webhook"
    signed = True
    scheme = "standard"

    def target_clean(self, target: str) -> str:
        return url_clean(target)

    def target_display(self, target: str) -> str:
        parts = urlsplit(target)
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        # A query may carry a token; the path is what tells receivers apart.
        return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")

    def new_secret(self) -> str:
        return get_scheme(self.scheme).new_secret()

    def body(self, message: Message) -> bytes:
        data = {**message.data, "subject": message.subject, "text": message.text,
                "link": message.link}  # fmt: skip
        return compact_json(
            {"type": message.event, "timestamp": message.created_at_iso, "data": data}
        )

    def send(self, *, message: Message, target: str, secret: str, timeout: float) -> Outcome:
        body = self.body(message)
        headers = get_scheme(self.scheme).sign(
            body=body, secret=secret, timestamp=int(time.time()), event_id=message.id
        )
        return http_post(
            url=target,
            body=body,
            headers={**headers, "Content-Type": "application/json"},
            timeout=timeout,
            shown=self.target_display(target),
        )


KINDS: dict[str, ChannelKindBase] = {
    kind.kind: kind for kind in (EmailKind(), SlackKind(), WebhookKind())
}


def channel_kind(kind: str) -> ChannelKindBase:
    try:
        return KINDS[kind]
    except KeyError:
        raise ChannelError(f"unknown channel kind: {kind}", field="kind") from None


# --- Outbound HTTP ----------------------------------------------------------------------------


def http_post(
    *, url: str, body: bytes, headers: dict[str, str], timeout: float, shown: str
) -> Outcome:
    """One POST with explicit timeouts and no redirects. Errors name the target as `shown`,
    never as the URL itself (a Slack URL is a secret)."""
    started = time.monotonic()
    # Checked again at send time: the host may resolve elsewhere since the channel was saved.
    try:
        url_check(url)
    except UrlRefused as refusal:
        transient = isinstance(refusal, HostUnresolvable)
        return Outcome(False, error=f"refused: {refusal}", permanent=not transient)
    # httpx times each phase; the deadline also bounds an answer trickled out byte by byte.
    deadline = started + 2 * timeout
    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(timeout),
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT},
            ) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            answer = _bounded_read(response, deadline)
            status = response.status_code
    except httpx.TimeoutException:
        return Outcome(False, error=f"timed out after {timeout:g} s",
                       duration_ms=_since(started))  # fmt: skip
    except httpx.HTTPError as error:
        message = _scrubbed(f"{type(error).__name__}: {error}", url, shown)
        return Outcome(False, error=message[:500], duration_ms=_since(started))
    if 200 <= status < 300:
        return Outcome(True, status_code=status, duration_ms=_since(started))
    return Outcome(
        False,
        status_code=status,
        error=_scrubbed(f"HTTP {status}: {answer[:ANSWER_SHOWN]}".strip(" :"), url, shown),
        duration_ms=_since(started),
        # A redirect is never followed and a refusal will be refused again; a timeout, a
        # throttle or a server error may pass.
        permanent=300 <= status < 500 and status not in (408, 425, 429),
    )


def _bounded_read(response: httpx.Response, deadline: float) -> str:
    collected = bytearray()
    for chunk in response.iter_bytes():
        collected += chunk
        if len(collected) >= ANSWER_BYTES or time.monotonic() > deadline:
            break
    return bytes(collected[:ANSWER_BYTES]).decode("utf-8", "replace").strip()


def _scrubbed(text: str, url: str, shown: str) -> str:
    """`text` without the URL or its path, which some errors quote."""
    text = text.replace(url, shown)
    path = urlsplit(url).path
    return text.replace(path, "/…") if len(path) > 1 else text


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
