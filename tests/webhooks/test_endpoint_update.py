"""Editing an endpoint, from the admin or a service call, is one audited action."""

import pytest

from core.models import AuditEntry
from webhooks.models import EndpointState, Environment, Event
from webhooks.services import endpoint_update


def _change_form(endpoint, **changes) -> dict:
    values = {
        "slug": endpoint.slug,
        "name": endpoint.name,
        "provider": endpoint.provider,
        "environment": endpoint.environment,
        "state": endpoint.state,
    }
    return {**values, **changes}


@pytest.mark.django_db
def test_an_endpoint_edited_in_the_admin_is_audited_with_before_and_after(
    admin_client, make_endpoint
):
    endpoint, _ = make_endpoint("procureiq", name="Old name", environment=Environment.SANDBOX)

    response = admin_client.post(
        f"/admin/webhooks/endpoint/{endpoint.pk}/change/",
        _change_form(endpoint, name="ProcureIQ live", environment=Environment.PRODUCTION),
    )

    assert response.status_code == 302, response.content[:500]
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.environment) == ("ProcureIQ live", Environment.PRODUCTION)
    entry = AuditEntry.objects.filter(object_type="endpoint", reason="").latest("at")
    assert entry.actor_label == "admin"
    assert entry.before == {"name": "Old name", "environment": Environment.SANDBOX}
    assert entry.after == {"name": "ProcureIQ live", "environment": Environment.PRODUCTION}


@pytest.mark.django_db
def test_saving_an_unchanged_endpoint_writes_no_audit_entry(admin_client, make_endpoint):
    endpoint, _ = make_endpoint("procureiq", name="Same")
    entries = AuditEntry.objects.count()

    response = admin_client.post(
        f"/admin/webhooks/endpoint/{endpoint.pk}/change/", _change_form(endpoint)
    )

    assert response.status_code == 302
    assert AuditEntry.objects.count() == entries


@pytest.mark.django_db
def test_resuming_an_endpoint_queues_what_it_stored_while_paused(make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    endpoint_update(endpoint=endpoint, state=EndpointState.PAUSED)
    Event.objects.create(endpoint=endpoint, event_type="order.created", body=b"{}", body_sha256="0")

    queued = endpoint_update(endpoint=endpoint, state=EndpointState.ACTIVE, reason="back")

    assert queued == 1
    entry = AuditEntry.objects.filter(object_type="endpoint", reason="back").get()
    assert (entry.before, entry.after) == ({"state": "paused"}, {"state": "active"})


@pytest.mark.django_db
def test_only_editable_fields_can_be_changed(make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    with pytest.raises(ValueError, match="provider"):
        endpoint_update(endpoint=endpoint, provider="autranex")
    with pytest.raises(ValueError, match="unknown state"):
        endpoint_update(endpoint=endpoint, state="asleep")
