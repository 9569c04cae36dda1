"""Alert channels for real: an operator creates a signed webhook channel in a browser at 1400 px,
copies its secret from the one page that shows it and sends a test the receiver can verify; on a
real django-q2 cluster, a channel whose receiver never answers holds up no other."""

import importlib

import pytest
from django.contrib.auth.models import Group, Permission

from console.channels import channel_create, operational_event
from console.models import ChannelMessage, ChannelMessageStatus, OperationalEvent
from tests.admin.conftest import follow
from tests.integrations.support import Reply, Sink, signature_valid
from tests.postgres import requires_postgres
from tests.support.cluster import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sink():
    receiver = Sink()
    yield receiver
    receiver.stop()


@pytest.fixture
def channel_roles(roles):
    """The roles' grants on alert channels, as the console's migration gives them (a live
    server's database is flushed after each test, so they are made again)."""
    migration = importlib.import_module("console.migrations.0004_alert_channels")
    for name, codenames in migration.ROLES.items():
        Group.objects.get(name=name).permissions.add(
            *[
                Permission.objects.get(content_type__app_label=app, codename=codename)
                for app, codename in codenames
            ]
        )


def test_an_operator_creates_a_signed_channel_and_sends_a_test(channel_roles, console, sink):
    page = console.login("oscar", width=1400)
    page.goto(console.url + "/admin/console/alertchannel/add/")
    page.fill("#id_name", "Pager")
    page.select_option("#id_kind", "webhook")
    page.fill("#id_target", sink.url)
    follow(page, "input[name=_save]")

    secret = page.inner_text("#secret-value")
    assert secret.startswith("whsec_")
    fingerprint = page.inner_text("#secret-fingerprint")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    follow(page, "text=Done: back to Pager")
    assert secret not in page.content()
    assert fingerprint in page.content()
    follow(page, "#send-test-button")

    assert "Test message sent through Pager: the receiver answered 200" in page.inner_text(
        ".messagelist"
    )
    [request] = sink.received
    assert signature_valid("standard", request, secret)
    assert request.json()["type"] == "channel.test"
    assert page.locator(".hd-channel-message[data-status=sent]").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@requires_postgres()
@pytest.mark.cluster
def test_a_channel_that_never_answers_holds_up_no_other(qcluster):
    silent = Sink([Reply(hang=True)])
    healthy = Sink()
    try:
        channel_create(name="A silent chat", kind="slack", target=silent.url)
        channel_create(name="B healthy chat", kind="slack", target=healthy.url)
        qcluster(env={"HOOKDESK_WORKERS": "2"})

        messages = operational_event(
            OperationalEvent.DELIVERY_DEAD, subject="Dead letter", text="Delivery odl_1 is dead."
        )
        slow, fast = sorted(messages, key=lambda message: message.channel.name)
        wait_for(lambda: silent.received)  # the silent receiver holds its request open
        wait_for(
            lambda: ChannelMessage.objects.filter(
                pk=fast.pk, status=ChannelMessageStatus.SENT
            ).exists()
        )
        # Sent while the other channel's attempt is still waiting for an answer.
        slow.refresh_from_db()
        assert (slow.status, slow.attempts, slow.last_error) == ("pending", 1, "")
        assert slow.claimed_until is not None
        assert len(healthy.received) == 1
    finally:
        silent.stop()
        healthy.stop()
