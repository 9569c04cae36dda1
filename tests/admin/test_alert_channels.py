"""Alert channels: operational events reach Slack-shaped and signed receivers on loopback (real
sockets), each channel in a task of its own; a failing channel stops no other and its failure
shows on it; subscriptions are kept; a disabled destination raises an alert, a dead letter is
announced; the admin shows a webhook's secret once, never a Slack URL, and sends a test."""

import json
import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import OrmQ

from console import channels
from console.alerts import alerts_evaluate
from console.channels import (
    channel_create,
    channel_message_send,
    channel_messages_requeue_due,
    channel_test_send,
    channel_update,
    operational_event,
)
from console.models import (
    Alert,
    AlertChannel,
    AlertKind,
    AlertThreshold,
    ChannelMessage,
    ChannelMessageStatus,
    OperationalEvent,
)
from core import crypto, task_names
from core.models import AuditEntry
from integrations.models import Destination, OutboundDelivery
from integrations.outbound import delivery_send
from integrations.services import destination_create
from integrations.signals import delivery_dead, destination_disabled
from integrations.transport import Transport
from tests.integrations.support import Reply, Sink, free_port, signature_valid
from webhooks.models import Event

pytestmark = pytest.mark.django_db

ALL = list(OperationalEvent.values)


@pytest.fixture
def sinks():
    """sinks(replies=[Reply(500)]) -> a started loopback receiver, stopped after the test."""
    started = []

    def start(replies=None) -> Sink:
        sink = Sink(replies)
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()
    Transport.forget_all()


@pytest.fixture
def announce(django_capture_on_commit_callbacks):
    """announce(kind, ...) -> the messages owed, their tasks queued as after a commit."""

    def run(kind=OperationalEvent.ALERT_RAISED, **values):
        values = {"subject": "Something happened", "text": "Details of it.", **values}
        with django_capture_on_commit_callbacks(execute=True):
            return operational_event(kind, **values)

    return run


def queued_sends() -> list[tuple]:
    """The arguments of every queued channel-message task, oldest first."""
    return [
        tuple(row.task["args"])
        for row in OrmQ.objects.order_by("id")
        if row.task.get("func") == task_names.SEND_CHANNEL_MESSAGE
    ]


def work_queue() -> list[str]:
    """Run every queued channel-message task as a worker does, oldest first, one at a time."""
    results = []
    for row in OrmQ.objects.order_by("id"):
        if row.task.get("func") == task_names.SEND_CHANNEL_MESSAGE:
            results.append(import_string(row.task["func"])(*row.task["args"]))
            row.delete()
    return results


def slack(url: str, *, events=None, name="Ops chat", **values) -> AlertChannel:
    return channel_create(name=name, kind="slack", target=url, events=events, **values)[0]


def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/hooks/T000/B000/XyZsecretTokenPart"


# --- Sending ------------------------------------------------------------------------------


def test_it_posts_slack_shaped_text(sinks, announce):
    sink = sinks()
    channel = slack(sink.url)

    [message] = announce(
        subject="Signature failures on shop", text="25 failures in 10 min.",
        link="https://hookdesk.example/admin/console/dashboard/",
    )  # fmt: skip
    assert sink.received == []  # nothing is sent before a worker runs the task
    assert queued_sends() == [(message.pk,)]
    assert work_queue() == ["sent"]

    [request] = sink.received
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert list(body) == ["text"]
    assert "Signature failures on shop" in body["text"]
    assert "25 failures in 10 min." in body["text"]
    assert "https://hookdesk.example/admin/console/dashboard/" in body["text"]
    channel.refresh_from_db()
    assert channel.last_sent_at is not None and channel.consecutive_failures == 0


def test_it_signs_a_generic_webhook_with_the_channels_own_secret(sinks, announce):
    sink = sinks()
    channel, secret = channel_create(name="Pager", kind="webhook", target=sink.url)
    assert secret.startswith("whsec_")
    assert channel.secret_fingerprint == crypto.fingerprint(secret)
    assert secret not in channel.secret_encrypted

    [message] = announce(
        OperationalEvent.DELIVERY_DEAD,
        subject="Dead letter for ERP",
        text="Delivery odl_1 is dead.",
        data={"delivery_id": "odl_1", "attempts": 8},
        link="https://hookdesk.example/x",
    )
    assert work_queue() == ["sent"]

    [request] = sink.received
    assert signature_valid("standard", request, secret)
    assert not signature_valid("standard", request, channel_create(
        name="Other", kind="webhook", target=sink.url)[1])  # fmt: skip
    assert request.headers["webhook-id"] == message.pk
    body = request.json()
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == "delivery.dead"
    assert body["timestamp"] == message.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["data"] == {
        "delivery_id": "odl_1",
        "attempts": 8,
        "subject": "Dead letter for ERP",
        "text": "Delivery odl_1 is dead.",
        "link": "https://hookdesk.example/x",
    }


def test_it_e_mails_an_email_channel(announce):
    channel_create(name="Ops mail", kind="email", target="ops@example.test, oncall@example.test")

    announce(subject="Backlog stuck", text="600 s pending.", link="https://hookdesk.example/d")
    assert work_queue() == ["sent"]

    [sent] = mail.outbox
    assert sent.to == ["ops@example.test", "oncall@example.test"]
    assert sent.subject == "[hookdesk] Backlog stuck"
    assert "600 s pending." in sent.body and "https://hookdesk.example/d" in sent.body


def test_a_failing_channel_stops_no_other_and_shows_its_failure(sinks, announce, caplog):
    failing = sinks([Reply(500, body=b"upstream broke")])
    healthy = sinks()
    refused = slack(refused_url(), name="Gone chat")
    erroring = slack(failing.url, name="Broken chat")
    working = slack(healthy.url, name="Good chat")

    with caplog.at_level(logging.WARNING, logger="console.channels"):
        messages = announce(subject="Hold rate", text="40% held.")
        # One task per channel; the failing ones run first and do not stop the last.
        assert len(queued_sends()) == 3
        assert sorted(work_queue()) == ["retry", "retry", "sent"]

    assert len(healthy.received) == 1 and len(failing.received) == 1
    for channel in (refused, erroring, working):
        channel.refresh_from_db()
    assert (erroring.consecutive_failures, erroring.last_error) == (1, "HTTP 500: upstream broke")
    assert refused.consecutive_failures == 1 and "ConnectError" in refused.last_error
    assert erroring.last_failure_at is not None and working.consecutive_failures == 0
    by_channel = {message.channel_id: message for message in messages}
    retrying = ChannelMessage.objects.get(pk=by_channel[erroring.pk].pk)
    assert retrying.status == ChannelMessageStatus.PENDING
    assert retrying.next_attempt_at > timezone.now() + timedelta(seconds=20)
    assert ChannelMessage.objects.get(pk=by_channel[working.pk].pk).status == "sent"
    # Logged by the channel's shown target, never its token path.
    assert "XyZsecretTokenPart" not in caplog.text
    assert refused.target_display in caplog.text


def test_it_retries_a_server_error_and_gives_up_after_the_last_attempt(sinks, announce):
    sink = sinks([Reply(503), Reply(502), Reply(500), Reply(200)])
    channel = slack(sink.url)
    [message] = announce()
    assert work_queue() == ["retry"]
    message.refresh_from_db()
    assert channel_message_send(message_id=message.pk) == "not due"

    assert channel_message_send(message_id=message.pk, now=message.next_attempt_at) == "retry"
    message.refresh_from_db()
    assert channel_message_send(message_id=message.pk, now=message.next_attempt_at) == "failed"

    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_status_code) == ("failed", 3, 500)
    assert len(sink.received) == 3
    channel.refresh_from_db()
    assert channel.consecutive_failures == 3


def test_it_does_not_retry_a_message_the_receiver_refused(sinks, announce):
    sink = sinks([Reply(404, body=b"no_service")])
    channel = slack(sink.url)
    [message] = announce()
    assert work_queue() == ["failed"]
    message.refresh_from_db()
    assert (message.status, message.last_error) == ("failed", "HTTP 404: no_service")
    channel.refresh_from_db()
    assert channel.last_error == "HTTP 404: no_service"


def test_a_second_task_for_one_message_sends_nothing(sinks, announce):
    sink = sinks()
    slack(sink.url)
    [message] = announce()
    assert work_queue() == ["sent"]
    assert channel_message_send(message_id=message.pk) == "finished"
    assert len(sink.received) == 1


def test_the_sweep_queues_a_message_whose_task_was_lost(sinks, announce):
    sink = sinks()
    slack(sink.url)
    [message] = announce()
    OrmQ.objects.all().delete()  # the broker lost the task

    assert channel_messages_requeue_due() == 0  # it was queued a moment ago
    later = timezone.now() + timedelta(seconds=channels.REQUEUE_AFTER_SECONDS + 1)
    assert channel_messages_requeue_due(now=later) == 1
    assert queued_sends() == [(message.pk,)]
    assert work_queue() == ["sent"]
    assert len(sink.received) == 1


def test_the_sweep_fails_a_message_whose_last_attempt_never_finished(announce):
    slack(refused_url())
    [message] = announce()
    ChannelMessage.objects.filter(pk=message.pk).update(
        attempts=3, claimed_until=timezone.now() - timedelta(seconds=1)
    )
    channel_messages_requeue_due()
    message.refresh_from_db()
    assert message.status == ChannelMessageStatus.FAILED
    assert message.last_error == "the worker sending the last attempt stopped"


def test_it_keeps_the_newest_messages_of_each_channel(sinks, announce, monkeypatch):
    monkeypatch.setattr(channels, "MESSAGES_KEPT", 3)
    sink = sinks()
    channel = slack(sink.url)
    for n in range(5):
        announce(subject=f"Event {n}")
    work_queue()
    kept = list(channel.messages.order_by("created_at").values_list("subject", flat=True))
    assert kept == ["Event 2", "Event 3", "Event 4"]


# --- Subscriptions ------------------------------------------------------------------------


def test_it_sends_each_event_only_to_the_active_channels_that_subscribe(sinks, announce):
    sink = sinks()
    dead_only = slack(sink.url, name="Dead letters", events=["delivery.dead"])
    alerts_only = slack(sink.url, name="Alerts", events=["alert.raised"])
    slack(sink.url, name="Switched off", active=False)
    overdue = slack(sink.url, name="Reviews", events=["hold.overdue"])

    assert {m.channel_id for m in announce(OperationalEvent.ALERT_RAISED)} == {alerts_only.pk}
    assert {m.channel_id for m in announce(OperationalEvent.DELIVERY_DEAD)} == {dead_only.pk}
    # hold.overdue is an event channels may subscribe to; the review SLA will send it.
    assert {m.channel_id for m in announce(OperationalEvent.HOLD_OVERDUE)} == {overdue.pk}
    assert announce(OperationalEvent.DESTINATION_DISABLED) == []
    with pytest.raises(ValueError):
        operational_event("hold.forgotten", subject="s", text="t")


def test_a_message_owed_to_a_channel_switched_off_since_is_not_sent(sinks, announce):
    sink = sinks()
    channel = slack(sink.url)
    announce()
    channel_update(channel=channel, active=False)
    assert work_queue() == ["failed"]
    assert sink.received == []
    channel.refresh_from_db()
    assert channel.consecutive_failures == 0  # the channel did not fail


def test_dead_letters_of_one_destination_reach_a_channel_once_in_the_quiet_period(announce):
    channel = slack(refused_url(), events=["delivery.dead"])
    first = announce(OperationalEvent.DELIVERY_DEAD, group="dst_a")
    assert len(first) == 1
    assert announce(OperationalEvent.DELIVERY_DEAD, group="dst_a") == []
    assert len(announce(OperationalEvent.DELIVERY_DEAD, group="dst_b")) == 1
    ChannelMessage.objects.filter(channel=channel).update(
        created_at=timezone.now() - timedelta(seconds=channels.QUIET_SECONDS + 1)
    )
    assert len(announce(OperationalEvent.DELIVERY_DEAD, group="dst_a")) == 1


# --- The operational events ---------------------------------------------------------------


@pytest.fixture
def operations_mail(people):
    people["oscar"].email = "oscar@example.test"
    people["oscar"].save(update_fields=["email"])
    return people


def test_a_crossed_threshold_is_e_mailed_as_before_and_sent_as_alert_raised(
    make_endpoint, sinks, django_capture_on_commit_callbacks
):
    sink = sinks()
    _, secret = channel_create(name="Pager", kind="webhook", target=sink.url,
                               events=["alert.raised"])  # fmt: skip
    endpoint, _ = make_endpoint("procureiq", slug="shop")
    AlertThreshold.objects.create(
        name="Backlog stuck", kind=AlertKind.OLDEST_PENDING, limit=300, window_minutes=15,
        recipients="ops@example.test",
    )  # fmt: skip
    Event.objects.create(
        endpoint=endpoint, event_type="order.created", body=b"{}", body_sha256="0" * 64,
        received_at=timezone.now() - timedelta(minutes=10), order_id="ord_waiting",
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        [alert] = alerts_evaluate()
    assert work_queue() == ["sent"]

    [sent] = mail.outbox
    assert sent.to == ["ops@example.test"] and alert.emailed_to == ["ops@example.test"]
    [request] = sink.received
    assert signature_valid("standard", request, secret)
    body = request.json()
    assert body["type"] == "alert.raised"
    assert body["data"]["alert_id"] == alert.pk
    assert body["data"]["endpoint"] == "shop"
    assert body["data"]["order_ids"] == ["ord_waiting"]
    assert body["data"]["link"].endswith(reverse("console-dashboard"))


def test_a_disabled_destination_raises_an_alert_and_notifies(
    operations_mail, sinks, django_capture_on_commit_callbacks, client_for
):
    sink = sinks()
    alerts = slack(sink.url, name="Alerts", events=["alert.raised"])
    disabled = slack(sink.url, name="Destinations", events=["destination.disabled"])
    destination, _ = destination_create(name="Slow ERP", url="http://127.0.0.1:9/hooks")

    with django_capture_on_commit_callbacks(execute=True):
        destination_disabled.send_robust(
            sender=Destination, destination=destination, reason="nothing but failures for 5 days"
        )
    [alert] = Alert.objects.all()
    assert (alert.threshold, alert.operational_event, alert.destination) == (
        None, "destination.disabled", destination,
    )  # fmt: skip
    assert "Slow ERP" in alert.message and "nothing but failures for 5 days" in alert.message
    assert alert.emailed_to == ["oscar@example.test"]
    [sent] = mail.outbox
    assert sent.subject == "[hookdesk] Destination Slow ERP disabled"
    # Announced once, as destination.disabled: not as alert.raised besides.
    assert list(ChannelMessage.objects.values_list("channel_id", "event")) == [
        (disabled.pk, "destination.disabled")
    ]
    assert not alerts.messages.exists()
    assert work_queue() == ["sent"]
    assert "Slow ERP" in sink.received[0].json()["text"]

    page = client_for("oscar").get(reverse("console-dashboard"))
    assert page.status_code == 200
    assert alert.message.encode() in page.content
    destination_page = reverse("admin:integrations_destination_change", args=[destination.pk])
    assert f'href="{destination_page}"'.encode() in page.content
    assert b"Destination Slow ERP" in page.content
    listed = client_for("oscar").get(reverse("admin:console_alert_changelist"))
    assert listed.status_code == 200 and b"Destination disabled by hookdesk" in listed.content


def test_a_dead_letter_is_announced_with_its_delivery(
    hold_for, sinks, django_capture_on_commit_callbacks
):
    sink = sinks()
    _, secret = channel_create(name="Pager", kind="webhook", target=sink.url,
                               events=["delivery.dead"])  # fmt: skip
    destination, _ = destination_create(
        name="ERP", url="http://127.0.0.1:9/hooks", event_types=["order.held"]
    )
    hold_for("ord_dead")
    delivery = OutboundDelivery.objects.get(destination=destination)
    OutboundDelivery.objects.filter(pk=delivery.pk).update(
        status="dead", attempts=8, last_status_code=503, last_error="HTTP 503"
    )

    with django_capture_on_commit_callbacks(execute=True):
        delivery_dead.send_robust(sender=OutboundDelivery, delivery=delivery)
    assert work_queue() == ["sent"]

    [request] = sink.received
    assert signature_valid("standard", request, secret)
    body = request.json()
    assert body["type"] == "delivery.dead"
    data = body["data"]
    assert (data["delivery_id"], data["destination_id"], data["order_id"]) == (
        delivery.pk, destination.pk, "ord_dead",
    )  # fmt: skip
    assert (data["attempts"], data["last_status_code"], data["last_error"]) == (8, 503, "HTTP 503")
    assert "status__exact=dead" in data["link"]
    assert not Alert.objects.exists()  # a dead letter is announced, not raised on the dashboard


def test_a_receiver_answering_gone_disables_its_destination_and_every_channel_hears(
    operations_mail, hold_for, sinks, django_capture_on_commit_callbacks
):
    erp = sinks([Reply(410)])
    chat = sinks()
    slack(chat.url, events=["destination.disabled", "delivery.dead"])
    destination, _ = destination_create(name="Retired ERP", url=erp.url, event_types=["order.held"])
    hold_for("ord_gone")
    delivery = OutboundDelivery.objects.get(destination=destination)

    with django_capture_on_commit_callbacks(execute=True):
        delivery_send(delivery_id=delivery.pk)
    destination.refresh_from_db()
    assert destination.active is False
    assert work_queue() == ["sent", "sent"]

    texts = sorted(request.json()["text"] for request in chat.received)
    assert texts[0].startswith("*Dead letter for Retired ERP*")
    assert texts[1].startswith("*Destination Retired ERP disabled*")
    assert Alert.objects.get().destination == destination


# --- Services -----------------------------------------------------------------------------


def test_it_refuses_a_target_it_cannot_use():
    with pytest.raises(channels.ChannelError) as refused:
        channel_create(name="x", kind="email", target="not-an-address")
    assert refused.value.field == "target"
    with pytest.raises(channels.ChannelError):
        channel_create(name="x", kind="slack", target="ftp://hooks.example.test/x")
    with pytest.raises(channels.ChannelError) as metadata:
        channel_create(name="x", kind="webhook", target="http://169.254.169.254/latest/")
    assert "169.254" not in str(metadata.value)
    with pytest.raises(channels.ChannelError) as nothing:
        channel_create(name="x", kind="slack", target=refused_url(), events=[])
    assert nothing.value.field == "events"


def test_it_audits_changes_without_the_target_or_secret(people):
    url = refused_url()
    channel = slack(url, actor=people["oscar"])
    _, secret = channel_update(channel=channel, actor=people["oscar"], kind="webhook",
                               target="http://127.0.0.1:9/alerts?token=abc")  # fmt: skip
    assert secret and channel.secret_fingerprint == crypto.fingerprint(secret)
    _, rotated = channel_update(channel=channel, rotate_secret=True)
    assert rotated and rotated != secret
    _, none = channel_update(channel=channel, kind="slack", target=url)
    assert none is None and channel.secret_encrypted == ""

    entries = AuditEntry.objects.filter(object_type="alert_channel").order_by("id")
    assert [entry.reason for entry in entries] == ["created", "changed", "secret rotated",
                                                   "changed"]  # fmt: skip
    dumped = json.dumps([(entry.before, entry.after) for entry in entries])
    for hidden in ("XyZsecretTokenPart", secret, rotated, "token=abc"):
        assert hidden not in dumped
    assert entries[1].after["target"] == "http://127.0.0.1:9/alerts?…"


def test_a_test_message_is_sent_now_and_kept_in_the_log(sinks):
    sink = sinks([Reply(500)])
    channel = slack(sink.url)
    message = channel_test_send(channel=channel)
    assert (message.status, message.attempts, message.last_status_code) == ("failed", 1, 500)
    assert len(sink.received) == 1 and "Test message" in sink.received[0].json()["text"]
    assert queued_sends() == []  # no retry: the operator sees the answer and tries again
    channel.refresh_from_db()
    assert channel.consecutive_failures == 1


# --- Admin --------------------------------------------------------------------------------


@pytest.fixture
def client_for(people):
    def login(username: str) -> Client:
        user = people[username]
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        client = Client()
        client.force_login(user)
        return client

    return login


def _add(client: Client, **values):
    form = {"name": "Channel", "kind": "slack", "target": "", "events": ALL, "active": "on",
            **values}  # fmt: skip
    return client.post(reverse("admin:console_alertchannel_add"), form)


def test_the_admin_shows_a_webhooks_secret_once(client_for, sinks):
    sink = sinks()
    oscar = client_for("oscar")
    response = _add(oscar, name="Pager", kind="webhook", target=sink.url)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    channel = AlertChannel.objects.get(name="Pager")
    secret = response.context["secret"]
    assert secret.startswith("whsec_") and secret.encode() in response.content
    assert crypto.fingerprint(secret) == channel.secret_fingerprint
    assert secret not in str(response.cookies.get("messages", ""))

    page = oscar.get(reverse("admin:console_alertchannel_change", args=[channel.pk]))
    assert page.status_code == 200
    assert secret.encode() not in page.content
    assert channel.secret_fingerprint.encode() in page.content


def test_the_admin_never_shows_a_slack_url_after_it_was_given(client_for, sinks):
    sink = sinks()
    url = sink.url + "/T0001/B0002/XyZsecretTokenPart"
    oscar = client_for("oscar")
    response = _add(oscar, name="Ops chat", target=url)
    assert response.status_code == 302
    channel = AlertChannel.objects.get(name="Ops chat")
    assert channel.target_display == f"127.0.0.1 · {crypto.fingerprint(url)}"

    for page in (
        oscar.get(reverse("admin:console_alertchannel_changelist")),
        oscar.get(reverse("admin:console_alertchannel_change", args=[channel.pk])),
        client_for("audrey").get(reverse("admin:console_alertchannel_change", args=[channel.pk])),
        oscar.get(reverse("admin:console_alertchannel_history", args=[channel.pk])),
    ):
        assert page.status_code == 200
        assert b"XyZsecretTokenPart" not in page.content
        assert b"/hooks/orders" not in page.content
    listing = oscar.get(reverse("admin:console_alertchannel_changelist"))
    assert channel.target_display.encode() in listing.content


def test_saving_a_slack_channel_without_a_url_keeps_it(client_for, sinks):
    sink = sinks()
    channel = slack(sink.url)
    oscar = client_for("oscar")
    response = oscar.post(
        reverse("admin:console_alertchannel_change", args=[channel.pk]),
        {"name": "Renamed", "kind": "slack", "target": "", "events": ["delivery.dead"],
         "active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.name, channel.events) == ("Renamed", ["delivery.dead"])
    assert channels.channel_target(channel) == sink.url

    refused = oscar.post(
        reverse("admin:console_alertchannel_change", args=[channel.pk]),
        {"name": "Renamed", "kind": "webhook", "target": "", "events": ALL, "active": "on"},
    )
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert errors["target"] == ["give the channel's target for this kind"]


def test_send_test_reports_the_answer_and_failures_show_on_the_channel(client_for, sinks):
    sink = sinks([Reply(200), Reply(500, body=b"boom")])
    channel = slack(sink.url + "/T1/B2/XyZsecretTokenPart")
    oscar = client_for("oscar")
    test_url = reverse("admin:console_alertchannel_test", args=[channel.pk])

    sent = oscar.post(test_url, follow=True)
    assert sent.status_code == 200
    assert sink.received[0].json()["text"].startswith("*Test message")
    assert b"Test message sent through Ops chat: the receiver answered 200" in sent.content
    assert b'class="hd-channel-message"' in sent.content

    failed = oscar.post(test_url)
    assert failed.status_code == 302
    assert "XyZsecretTokenPart" not in str(failed.cookies.get("messages", ""))
    page = oscar.get(failed["Location"])
    assert b"Test message through Ops chat failed: HTTP 500: boom" in page.content
    listing = oscar.get(reverse("admin:console_alertchannel_changelist"))
    assert b"failing: 1 in a row" in listing.content and b"HTTP 500: boom" in listing.content

    assert client_for("audrey").post(test_url).status_code == 403
    assert len(sink.received) == 2
