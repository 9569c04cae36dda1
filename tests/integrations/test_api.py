"""The destinations API of SPEC §7, with the roles' permissions."""

import pytest

from core.models import AuditEntry
from integrations.models import DeliveryStatus, Destination, OutboundDelivery
from integrations.outbound import delivery_send
from tests.integrations.support import Reply, signature_valid

CREATE = {
    "name": "Acme ERP",
    "adapter": "webhook",
    "url": "http://127.0.0.1:9/hooks",
    "event_types": ["order.held", "order.released"],
    "block_id": "blk_high_risk_over_5000",
    "key": "QueryParameterKey",
    "connection_timeout": "PT60S",
    "retry_schedule": [60, 120],
}


def test_it_creates_a_destination_and_shows_its_secret_once(api):
    oscar = api("oscar")

    created = oscar.post("/api/v2/destinations/", CREATE, format="json")

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["id"].startswith("dst_")
    assert body["secret"].startswith("hdk_")
    assert body["signature_scheme"] == "autranex"
    assert body["connection_timeout"] == "PT60S"
    assert body["retry_schedule"] == [60, 120]
    assert body["has_key"] is True and "key" not in body
    assert body["tls"] == {
        "verify": True,
        "trust_all": False,
        "insecure": False,
        "ca_bundle": None,
        "client_cert": None,
        "has_client_key": False,
    }
    shown = oscar.get(f"/api/v2/destinations/{body['id']}/").json()
    assert "secret" not in shown
    assert shown["secret_fingerprint"].startswith("sha256:")
    assert shown["health"]["pending"] == 0
    stored = Destination.objects.get(pk=body["id"])
    assert body["secret"] not in stored.secret_encrypted  # encrypted at rest
    assert "QueryParameterKey" not in stored.key_encrypted
    assert AuditEntry.objects.filter(object_id=body["id"], reason="created").exists()
    listed = oscar.get("/api/v2/destinations/").json()
    assert [d["id"] for d in listed["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"connection_timeout": "30 seconds"}, "connection_timeout", "not an ISO-8601 duration"),
        ({"connection_timeout": "PT5M"}, "connection_timeout", "at most PT60S"),
        ({"connection_timeout": "PT0S"}, "connection_timeout", "more than zero"),
        ({"adapter": "sap"}, "adapter", "adapter must be one of"),
        ({"url": "ftp://erp"}, "url", "http:// or https://"),
        ({"event_types": ["order.created"]}, "event_types", "order.held"),
        ({"retry_schedule": [-1]}, "retry_schedule", "seconds from 0"),
        ({"signature_scheme": "hmac"}, "signature_scheme", "one of"),
        ({"status_mapping": {"held": "x"}}, "status_mapping", "takes no status mapping"),
        ({"connectionTimeout": "PT1S"}, "connectionTimeout", "unknown fields"),
    ],
)
def test_it_refuses_bad_configuration_with_a_message(api, change, field, message):
    response = api("oscar").post("/api/v2/destinations/", {**CREATE, **change}, format="json")

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert response.json().get("field") == field


def test_it_changes_rotates_and_deletes_a_destination(api):
    oscar = api("oscar")
    created = oscar.post("/api/v2/destinations/", CREATE, format="json").json()
    url = f"/api/v2/destinations/{created['id']}/"

    changed = oscar.patch(url, {"active": False, "tls": {"trust_all": True}}, format="json")
    assert changed.status_code == 200
    assert changed.json()["active"] is False
    assert changed.json()["tls"]["insecure"] is True
    assert "secret" not in changed.json()

    rotated = oscar.patch(url, {"rotate_secret": True}, format="json").json()
    assert rotated["secret"] != created["secret"]
    assert rotated["secret_fingerprint"] != created["secret_fingerprint"]

    standard = oscar.patch(url, {"signature_scheme": "standard"}, format="json").json()
    assert standard["secret"].startswith("whsec_")  # another scheme, another kind of secret

    assert oscar.delete(url).status_code == 204
    assert oscar.get(url).status_code == 404


def test_it_creates_an_unsigned_destination_when_asked(api):
    body = api("oscar").post("/api/v2/destinations/", {**CREATE, "secret": None}, format="json")

    assert body.status_code == 201
    assert "secret" not in body.json() and body.json()["signed"] is False


def test_it_lets_each_role_do_what_it_may(api):
    created = api("oscar").post("/api/v2/destinations/", CREATE, format="json").json()
    url = f"/api/v2/destinations/{created['id']}/"

    for reader in ("audrey", "alice"):
        assert api(reader).get(url).status_code == 200
        assert api(reader).get(url + "deliveries/").status_code == 200
        assert api(reader).patch(url, {"active": False}, format="json").status_code == 403
        assert api(reader).post("/api/v2/destinations/", CREATE, format="json").status_code == 403
        assert api(reader).delete(url).status_code == 403
    assert api("mallory").get(url).status_code == 403
    assert api(None).get(url).status_code in (401, 403)


def test_it_lists_deliveries_and_retries_a_dead_one(api, sinks, hold_order):
    sink = sinks([Reply(500), Reply(200)])
    oscar = api("oscar")
    created = oscar.post(
        "/api/v2/destinations/",
        {**CREATE, "url": sink.url, "retry_schedule": [0], "block_id": None},
        format="json",
    ).json()
    hold_order("ord_api")
    delivery = OutboundDelivery.objects.get()
    OutboundDelivery.objects.filter(pk=delivery.pk).update(max_attempts=1)
    assert delivery_send(delivery_id=delivery.pk) == "dead"

    base = f"/api/v2/destinations/{created['id']}/deliveries/"
    listed = oscar.get(base + "?status=dead").json()["results"]
    assert [(d["id"], d["status"], d["attempts"], d["last_response_code"]) for d in listed] == [
        (delivery.pk, "dead", 1, 500)
    ]
    assert oscar.get(base + "?status=pending").json()["results"] == []
    assert oscar.get(f"{base}{delivery.pk}/").json()["log"][0]["status_code"] == 500

    retried = oscar.post(f"{base}{delivery.pk}/retry/")
    assert retried.status_code == 202 and retried.json()["status"] == "pending"
    assert oscar.post(f"{base}{delivery.pk}/retry/").status_code == 409
    assert api("audrey").post(f"{base}{delivery.pk}/retry/").status_code == 403

    assert delivery_send(delivery_id=delivery.pk) == "succeeded"
    assert sink.received[1].headers["x-retry-count"] == "1"
    assert signature_valid("autranex", sink.received[1], created["secret"])
    assert OutboundDelivery.objects.get().status == DeliveryStatus.SUCCEEDED
    assert AuditEntry.objects.filter(object_id=delivery.pk, reason="retry").exists()


def test_it_cancels_a_pending_delivery(api, hold_order):
    oscar = api("oscar")
    created = oscar.post("/api/v2/destinations/", {**CREATE, "block_id": ""},
                         format="json").json()  # fmt: skip
    hold_order()
    delivery = OutboundDelivery.objects.get()
    base = f"/api/v2/destinations/{created['id']}/deliveries/{delivery.pk}/"

    assert oscar.post(base + "cancel/").json()["status"] == "cancelled"
    assert delivery_send(delivery_id=delivery.pk) == "done"
    assert oscar.post(base + "cancel/").status_code == 409
