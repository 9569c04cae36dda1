"""The admin as an operator uses it: add a destination pointing at a local receiver, hold an
order, see the delivery, its dead letters, retry and cancel."""

from integrations.models import DeliveryStatus, Destination, OutboundDelivery
from integrations.outbound import delivery_send
from tests.integrations.support import Reply, drain, signature_valid

FORM = {
    "name": "Local listener",
    "adapter": "webhook",
    "url": "",
    "signature_scheme": "autranex",
    "connection_timeout": "PT30S",
    "event_types": ["order.held", "order.released", "order.rejected"],
    "block_id": "",
    "scope": "full",
    "active": "on",
    "status_mapping": "",
    "body_template": "",
    "retry_schedule_text": "",
    "key": "",
    "tls_ca_bundle": "",
    "tls_client_cert": "",
    "client_key": "",
    "client_key_password": "",
}


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _secrets_shown_once(response) -> list[str]:
    """The secrets on the page of their own; never in a message, the session or a cookie."""
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert not _messages(response)
    assert "messages" not in response.cookies
    return [item["secret"] for item in response.context["secrets"]]


def test_it_adds_a_destination_in_the_admin_and_shows_its_secret_once(
    admin_client, sinks, hold_order
):
    sink = sinks()
    response = admin_client.post("/admin/integrations/destination/add/", {**FORM, "url": sink.url})

    [secret] = _secrets_shown_once(response)
    assert secret in response.content.decode()
    destination = Destination.objects.get()
    assert destination.secret_fingerprint in response.content.decode()
    assert destination.secret_fingerprint
    assert (
        secret
        not in admin_client.get(
            f"/admin/integrations/destination/{destination.pk}/change/"
        ).content.decode()
    )

    hold_order("ord_admin")
    delivery = drain(OutboundDelivery.objects.get())
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert signature_valid("autranex", sink.received[0], secret)
    page = admin_client.get(f"/admin/integrations/outbounddelivery/{delivery.pk}/change/")
    assert page.status_code == 200 and b"ord_admin" in page.content
    listing = admin_client.get("/admin/integrations/destination/")
    assert b"Local listener" in listing.content


def test_it_shows_form_errors_beside_their_fields(admin_client):
    response = admin_client.post(
        "/admin/integrations/destination/add/",
        {**FORM, "url": "http://127.0.0.1:9/", "connection_timeout": "thirty seconds",
         "retry_schedule_text": "60, soon"},
    )  # fmt: skip

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "retry_schedule_text" in errors
    response = admin_client.post(
        "/admin/integrations/destination/add/",
        {**FORM, "url": "http://127.0.0.1:9/", "connection_timeout": "thirty seconds"},
    )
    assert "not an ISO-8601 duration" in str(response.context["adminform"].form.errors)
    assert not Destination.objects.exists()


def test_it_flags_trust_all_as_insecure(admin_client):
    admin_client.post(
        "/admin/integrations/destination/add/",
        {**FORM, "url": "https://127.0.0.1:9/", "tls_trust_all": "on"},
    )

    assert Destination.objects.get().tls_trust_all
    listing = admin_client.get("/admin/integrations/destination/").content.decode()
    assert "INSECURE: trusts any certificate" in listing


def test_it_retries_dead_letters_and_cancels_pending_ones_from_the_admin(
    admin_client, sinks, make_destination, hold_order
):
    sink = sinks([Reply(500), Reply(200)])
    make_destination(sink.url, retry_schedule=[0.05])
    hold_order("ord_1")
    hold_order("ord_2")
    dead, pending = OutboundDelivery.objects.order_by("order_id")
    OutboundDelivery.objects.filter(pk=dead.pk).update(max_attempts=1)
    assert delivery_send(delivery_id=dead.pk) == "dead"

    dead_letters = admin_client.get("/admin/integrations/outbounddelivery/?status__exact=dead")
    assert dead.pk in dead_letters.content.decode()
    assert pending.pk not in dead_letters.content.decode()

    admin_client.post(
        "/admin/integrations/outbounddelivery/?status__exact=dead",
        {"action": "retry_now", "select_across": "1", "_selected_action": [dead.pk]},
    )
    admin_client.post(
        "/admin/integrations/outbounddelivery/",
        {"action": "cancel_pending", "_selected_action": [pending.pk]},
    )

    dead.refresh_from_db()
    pending.refresh_from_db()
    assert (dead.status, dead.max_attempts) == (DeliveryStatus.PENDING, 2)
    assert pending.status == DeliveryStatus.CANCELLED
    assert drain(dead).status == DeliveryStatus.SUCCEEDED


def test_it_rotates_a_secret_from_the_admin(admin_client, make_destination):
    destination, secret = make_destination("http://127.0.0.1:9/")

    response = admin_client.post(
        "/admin/integrations/destination/",
        {"action": "rotate_secrets", "_selected_action": [destination.pk]},
    )

    [shown] = _secrets_shown_once(response)
    assert shown != secret
    assert "fingerprint" in response.content.decode()
    destination.refresh_from_db()
    assert destination.secret_fingerprint in Destination.objects.values_list(
        "secret_fingerprint", flat=True
    )
