"""Alert channels: operational events fanned out to every active channel that subscribes to
them, the channels' own services (create, change, delete, Send test) and the sending engine.

Each message to each channel is a durable job (core.jobs): a row written when the event
happens, sent by a django-q2 task of its own once that commits, so a slow or failing channel
holds up neither the others nor the code that announced the event. A failed attempt is
retried with backoff unless the receiver refused the message itself; every failure is kept on
the channel (consecutive failures, last error) and logged by the channel's shown target, never
its URL or secret. The sweep queues what a lost task left behind."""

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from console.channel_kinds import ChannelError, Message, Outcome, channel_kind
from console.models import (
    TEST_EVENT,
    AlertChannel,
    AuditAction,
    ChannelMessage,
    ChannelMessageStatus,
    OperationalEvent,
)
from core import crypto, task_names
from core.audit import actor_label, audit_record
from core.jobs import Backoff, JobTable
from webhooks.providers.base import iso_utc

logger = logging.getLogger(__name__)

# Messages are durable jobs: the attempt number fences each claim, the sweep marks queued_at.
MESSAGES = JobTable(model=ChannelMessage, task=task_names.SEND_CHANNEL_MESSAGE)
SWEEP_SCHEDULE_NAME = "hookdesk: alert channel sweep"

SEND_TIMEOUT_SECONDS = 10.0
# The admin's Send test waits in the request: shorter.
TEST_TIMEOUT_SECONDS = 5.0
# Three attempts over about five minutes: an alert that comes later than that is news no more.
BACKOFF = Backoff.of((30, 270))
# Dead letters of one destination reach a channel at most once in this long: an outage of a
# few hours dead-letters every hold of it, one by one, and a chat channel must not drown.
QUIET_SECONDS = 600
# The log of each channel: its newest messages, whatever became of them.
MESSAGES_KEPT = 50
# A message queued this long ago and still not claimed lost its task: the sweep queues it.
REQUEUE_AFTER_SECONDS = 60
SWEEP_BATCH = 200
FIELDS = ("name", "kind", "events", "active")
# Written from what an operator gives, besides FIELDS.
OPERATOR_SET = ("target_encrypted", "target_display", "secret_encrypted", "secret_fingerprint")
UNSET: Any = object()


def _task_timeout(timeout: float) -> int:
    # Connect, then read, each up to `timeout` (the read bounded at twice it); with a margin.
    return math.ceil(2 * timeout) + 15


def _claim_lease(timeout: float) -> timedelta:
    return timedelta(seconds=2 * timeout + 30)


def console_url(name: str, *args, **query) -> str:
    """An absolute link into the console, for messages read outside it."""
    path = reverse(name, args=args) + (f"?{urlencode(query)}" if query else "")
    return settings.HOOKDESK["PUBLIC_BASE_URL"].rstrip("/") + path


# --- Channels -------------------------------------------------------------------------------


def channel_target(channel: AlertChannel) -> str:
    """The channel's target in full: for sending only, never for showing."""
    return crypto.decrypt(channel.target_encrypted)


def channel_secret(channel: AlertChannel) -> str:
    return crypto.decrypt(channel.secret_encrypted) if channel.secret_encrypted else ""


def channel_summary(channel: AlertChannel) -> dict[str, Any]:
    """What the audit trail keeps of a channel: the shown target and the secret's fingerprint."""
    return {
        **{name: getattr(channel, name) for name in FIELDS},
        "target": channel.target_display,
        "secret": channel.secret_fingerprint or None,
    }


def _events_clean(events) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise ChannelError("subscribe to at least one operational event", field="events")
    unknown = sorted(set(events) - set(OperationalEvent.values))
    if unknown:
        raise ChannelError(f"unknown operational events: {', '.join(unknown)}", field="events")
    return [event for event in OperationalEvent.values if event in events]


def _values_clean(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ChannelError(f"unknown fields: {', '.join(sorted(unknown))}")
    cleaned = dict(values)
    if "name" in cleaned:
        cleaned["name"] = str(cleaned["name"] or "").strip()
        if not cleaned["name"] or len(cleaned["name"]) > 200:
            raise ChannelError("a name of 1 to 200 characters", field="name")
    if "kind" in cleaned:
        channel_kind(cleaned["kind"])
    if "events" in cleaned:
        cleaned["events"] = _events_clean(cleaned["events"])
    if "active" in cleaned:
        cleaned["active"] = bool(cleaned["active"])
    return cleaned


def channel_check(
    *, channel: AlertChannel | None, values: dict[str, Any], target: str | None
) -> None:
    """Raise ChannelError if these values (a new channel's, or changes to `channel`) could not
    be saved; saves nothing. Forms call it to show the error beside its field."""
    values = _values_clean(values)
    kind = values.get("kind") or (channel.kind if channel else None)
    if kind is None:
        raise ChannelError("choose a kind", field="kind")
    kind_changed = channel is not None and kind != channel.kind
    if target:
        channel_kind(kind).target_clean(target)
    elif channel is None or kind_changed:
        raise ChannelError("give the channel's target for this kind", field="target")


def _target_store(channel: AlertChannel, target: str) -> None:
    kind = channel_kind(channel.kind)
    cleaned = kind.target_clean(target)
    channel.target_encrypted = crypto.encrypt(cleaned)
    channel.target_display = kind.target_display(cleaned)[:300]


def _secret_store(channel: AlertChannel, secret: str) -> None:
    channel.secret_encrypted = crypto.encrypt(secret) if secret else ""
    channel.secret_fingerprint = crypto.fingerprint(secret) if secret else ""


def _new_secret(channel: AlertChannel) -> str | None:
    kind = channel_kind(channel.kind)
    return kind.new_secret() if kind.signed else None


def channel_create(
    *,
    actor=None,
    name: str,
    kind: str,
    target: str,
    events: list[str] | None = None,
    active: bool = True,
) -> tuple[AlertChannel, str | None]:
    """Create a channel. A signed kind gets a new signing secret, returned in full here: the
    only time the caller sees it."""
    values = _values_clean(
        {"name": name, "kind": kind, "active": active,
         "events": OperationalEvent.values if events is None else events}
    )  # fmt: skip
    channel = AlertChannel(**values, created_by=actor if getattr(actor, "pk", None) else None)
    _target_store(channel, target)
    secret = _new_secret(channel)
    _secret_store(channel, secret or "")
    with transaction.atomic():
        channel.save()
        _audit(channel, actor, "created", after=channel_summary(channel))
    logger.info("alert channel %s created (%s → %s)", channel.pk, channel.kind,
                channel.target_display)  # fmt: skip
    return channel, secret


def channel_update(
    *,
    channel: AlertChannel,
    actor=None,
    target: str | None = None,
    rotate_secret: bool = False,
    **changes: Any,
) -> tuple[AlertChannel, str | None]:
    """Change a channel; `target` None keeps the one stored (a new kind needs a new target).
    A new signing secret (rotation, or a change to a signed kind) is returned in full, once."""
    changes = _values_clean(changes)
    channel_check(channel=channel, values=changes, target=target)
    before = channel_summary(channel)
    was_signed = channel_kind(channel.kind).signed
    for name, value in changes.items():
        setattr(channel, name, value)
    if target:
        _target_store(channel, target)
    signed = channel_kind(channel.kind).signed
    secret = _new_secret(channel) if signed and (rotate_secret or not was_signed) else None
    if secret or not signed:
        _secret_store(channel, secret or "")
    with transaction.atomic():
        # Only what an operator sets: the workers write the failure state meanwhile.
        channel.save(update_fields=[*FIELDS, *OPERATOR_SET, "updated_at"])
        reason = "secret rotated" if secret and was_signed else "changed"
        _audit(channel, actor, reason, before=before, after=channel_summary(channel))
    return channel, secret


def channel_delete(*, channel: AlertChannel, actor=None) -> None:
    with transaction.atomic():
        _audit(channel, actor, "deleted", before=channel_summary(channel))
        channel.delete()


def _audit(channel: AlertChannel, actor, reason: str, *, before=None, after=None) -> None:
    audit_record(
        action=AuditAction.ALERT_CHANNEL_CHANGED,
        obj_type="alert_channel",
        obj_id=channel.pk,
        actor=actor,
        reason=reason,
        before=before,
        after=after,
    )


# --- Operational events ---------------------------------------------------------------------


def operational_event(
    kind: str,
    *,
    subject: str,
    text: str,
    data: dict[str, Any] | None = None,
    link: str = "",
    group: str = "",
) -> list[ChannelMessage]:
    """Announce an operational event (an `OperationalEvent` value) to every active channel
    that subscribes to it: one message per channel, each sent by its own task once the
    caller's transaction commits. `data` (JSON) goes to signed webhooks as the event's data;
    `link` is an absolute console URL. Messages with a `group` reach a channel at most once in
    QUIET_SECONDS. Returns the messages owed; sends nothing itself."""
    if kind not in OperationalEvent.values:
        raise ValueError(f"unknown operational event: {kind}")
    now = timezone.now()
    channels = list(AlertChannel.objects.filter(active=True, events__contains=[kind]))
    if group and channels:
        channels = _not_quiet(channels, kind, group, now)
    messages = [
        ChannelMessage(
            channel=channel,
            event=kind,
            group=group[:100],
            subject=subject[:300],
            text=text,
            data=data or {},
            link=link[:500],
            max_attempts=BACKOFF.max_attempts,
            next_attempt_at=now,
            queued_at=now,
            created_at=now,
        )
        for channel in channels
    ]
    ChannelMessage.objects.bulk_create(messages)
    for message in messages:
        MESSAGES.enqueue_on_commit(message.pk, timeout=_task_timeout(SEND_TIMEOUT_SECONDS))
    if messages:
        logger.info("%s: %s (to %d alert channels)", kind, subject, len(messages))
    return messages


def _not_quiet(channels: list[AlertChannel], kind: str, group: str, now: datetime) -> list:
    # Two events of one group at the same instant may both pass: at worst one more message.
    recent = set(
        ChannelMessage.objects.filter(
            channel__in=channels,
            event=kind,
            group=group,
            created_at__gt=now - timedelta(seconds=QUIET_SECONDS),
        ).values_list("channel_id", flat=True)
    )
    return [channel for channel in channels if channel.pk not in recent]


# --- Sending --------------------------------------------------------------------------------


def _claimable(now: datetime):
    return ChannelMessage.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now),
        status=ChannelMessageStatus.PENDING,
        attempts__lt=F("max_attempts"),
    )


def channel_message_send(*, message_id: str, now: datetime | None = None) -> str:
    """Make one attempt at a message if it is due and nobody else is sending it. Returns what
    happened: sent, retry, failed, or why nothing was done."""
    now = now or timezone.now()
    message = ChannelMessage.objects.select_related("channel").filter(pk=message_id).first()
    if message is None or message.status != ChannelMessageStatus.PENDING:
        return "finished"
    if message.next_attempt_at and message.next_attempt_at > now:
        return "not due"
    lease = now + _claim_lease(SEND_TIMEOUT_SECONDS)
    # Two tasks for one message (a redelivery, the sweep): the fenced claim lets one through.
    if not MESSAGES.claim_one(
        message.pk, message.attempts, where=_claimable(now), claimed_until=lease, queued_at=None
    ):
        return "taken"
    message.attempts += 1
    if not message.channel.active and message.event != TEST_EVENT:
        switched_off = Outcome(False, error="the channel was switched off", permanent=True)
        return _record(message, switched_off, count_on_channel=False)
    return _record(message, _attempt(message, timeout=SEND_TIMEOUT_SECONDS))


def channel_test_send(*, channel: AlertChannel, actor=None) -> ChannelMessage:
    """Send a test message through the channel now, in the caller's thread, with a short
    timeout, and return it with its outcome. It is kept in the channel's log, and its failure
    counts on the channel like any other."""
    now = timezone.now()
    message = ChannelMessage.objects.create(
        channel=channel,
        event=TEST_EVENT,
        subject=f"Test message for {channel.name}",
        text=f"A test of the alert channel “{channel.name}”, sent from the hookdesk console "
        f"by {actor_label(actor)}. Nothing needs to be done.",
        data={"channel_id": channel.pk, "channel": channel.name},
        link=console_url("admin:console_alertchannel_change", channel.pk),
        # Created claimed by this request, which makes its one attempt: no task will.
        attempts=1,
        max_attempts=1,
        next_attempt_at=now,
        claimed_until=now + _claim_lease(TEST_TIMEOUT_SECONDS),
        created_at=now,
    )
    _record(message, _attempt(message, timeout=TEST_TIMEOUT_SECONDS))
    message.refresh_from_db()
    return message


def _message_view(message: ChannelMessage) -> Message:
    return Message(
        id=message.pk,
        event=message.event,
        subject=message.subject,
        text=message.text,
        data=message.data,
        link=message.link,
        created_at_iso=iso_utc(message.created_at.astimezone(UTC)),
    )


def _attempt(message: ChannelMessage, *, timeout: float) -> Outcome:
    channel = message.channel
    try:
        kind = channel_kind(channel.kind)
        secret = channel_secret(channel) if kind.signed else ""
        target = channel_target(channel)
    except Exception as error:
        # Stored configuration that cannot be used (a key rotated away): retrying cannot help
        # until an operator saves the channel again.
        return Outcome(False, error=f"cannot send: {type(error).__name__}", permanent=True)
    return kind.send(message=_message_view(message), target=target, secret=secret,
                     timeout=timeout)  # fmt: skip


def _record(message: ChannelMessage, outcome: Outcome, *, count_on_channel: bool = True) -> str:
    """Write the attempt's outcome, fenced by its number: a later claim's run wins."""
    now = timezone.now()
    attempt = message.attempts
    changes: dict[str, Any] = {
        "claimed_until": None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:500],
        "duration_ms": outcome.duration_ms,
    }
    delay = BACKOFF.delay(attempt)
    if outcome.ok:
        result = "sent"
        changes |= {"status": ChannelMessageStatus.SENT, "finished_at": now}
    elif outcome.permanent or attempt >= message.max_attempts or delay is None:
        result = "failed"
        changes |= {"status": ChannelMessageStatus.FAILED, "finished_at": now}
    else:
        result = "retry"
        changes |= {"next_attempt_at": now + timedelta(seconds=delay), "queued_at": None}
    with transaction.atomic():
        fenced = MESSAGES.fenced(message.pk, attempt).filter(status=ChannelMessageStatus.PENDING)
        if not fenced.update(**changes):
            return "superseded"
        if count_on_channel:
            _channel_health(message.channel_id, outcome, now)
        if result == "retry":
            MESSAGES.due_at(changes["next_attempt_at"], message.pk,
                            timeout=_task_timeout(SEND_TIMEOUT_SECONDS))  # fmt: skip
    _log(message, attempt, outcome, result)
    if result != "retry":
        _log_prune(message.channel_id)
    return result


def _channel_health(channel_id: str, outcome: Outcome, now: datetime) -> None:
    channels = AlertChannel.objects.filter(pk=channel_id)
    if outcome.ok:
        channels.update(last_sent_at=now, consecutive_failures=0)
    else:
        channels.update(
            last_failure_at=now,
            last_error=outcome.error[:500],
            consecutive_failures=F("consecutive_failures") + 1,
        )


def _log(message: ChannelMessage, attempt: int, outcome: Outcome, result: str) -> None:
    channel = message.channel
    if outcome.ok:
        logger.info("alert channel %s (%s): %s sent, attempt %d", channel.pk,
                    channel.target_display, message.event, attempt)  # fmt: skip
        return
    logger.warning("alert channel %s (%s, %s): %s attempt %d failed (%s): %s", channel.pk,
                   channel.kind, channel.target_display, message.event, attempt, result,
                   outcome.error)  # fmt: skip


def _log_prune(channel_id: str) -> None:
    """Keep the channel's newest MESSAGES_KEPT messages, and any still being sent."""
    newest = ChannelMessage.objects.filter(channel_id=channel_id).order_by("-created_at")
    cutoff = list(newest.values_list("created_at", flat=True)[MESSAGES_KEPT - 1 : MESSAGES_KEPT])
    if cutoff:
        newest.filter(created_at__lt=cutoff[0]).exclude(
            status=ChannelMessageStatus.PENDING
        ).delete()


# --- The sweep ------------------------------------------------------------------------------


def channel_messages_requeue_due(*, now: datetime | None = None) -> int:
    """Queue every due message nobody is sending or has just queued (a lost task, a retry
    whose clock mark was lost), and fail those whose last attempt's worker died. Returns how
    many it queued."""
    now = now or timezone.now()
    _claimable_none_left(now).update(
        status=ChannelMessageStatus.FAILED,
        finished_at=now,
        claimed_until=None,
        last_error="the worker sending the last attempt stopped",
    )
    queued_long_ago = now - timedelta(seconds=REQUEUE_AFTER_SECONDS)
    due = _claimable(now).filter(
        Q(queued_at__isnull=True) | Q(queued_at__lte=queued_long_ago), next_attempt_at__lte=now
    )
    timeout = _task_timeout(SEND_TIMEOUT_SECONDS)
    return MESSAGES.requeue_due(
        due,
        now=now,
        limit=SWEEP_BATCH,
        order_by=["next_attempt_at"],
        enqueue=lambda row: MESSAGES.enqueue(row[0], timeout=timeout),
    )


def _claimable_none_left(now: datetime):
    return ChannelMessage.objects.filter(
        status=ChannelMessageStatus.PENDING,
        attempts__gte=F("max_attempts"),
        claimed_until__lte=now,
    )


# --- django-q2 entry points (core.task_names) -----------------------------------------------


def channel_message_send_task(message_id: str) -> str:
    return channel_message_send(message_id=message_id)


def channel_messages_sweep_task() -> int:
    return channel_messages_requeue_due()
