"""The receiver's plain-SQL reads and inserts give the same instances as the ORM."""

from datetime import timedelta

import pytest

from core import plain_sql
from webhooks.models import Delivery, DeliveryOutcome, Event
from webhooks.selectors import endpoint_by_slug, endpoint_with_live_secrets, secrets_live
from webhooks.services import secret_expire, secret_rotate


def _fields(obj) -> dict:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


@pytest.mark.django_db
def test_the_delivery_lookup_reads_what_the_orm_reads(make_endpoint):
    endpoint, _ = make_endpoint("autranex", installation_key="k-123")
    original = endpoint.secrets.get()
    secret_rotate(endpoint=endpoint, grace=timedelta(days=1))
    secret_rotate(endpoint=endpoint, grace=timedelta(days=1))
    original.refresh_from_db()
    secret_expire(secret=original)

    found, secrets = endpoint_with_live_secrets(endpoint.slug)

    assert _fields(found) == _fields(endpoint_by_slug(endpoint.slug))
    assert [_fields(s) for s in secrets] == [_fields(s) for s in secrets_live(endpoint=endpoint)]
    assert len(secrets) == 2 and secrets[0].is_primary
    assert all(secret.endpoint is found for secret in secrets)
    assert endpoint_with_live_secrets("no-such-endpoint") == (None, [])


@pytest.mark.django_db
def test_an_insert_stores_what_the_orm_reads_back(make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    event = Event(
        endpoint=endpoint,
        provider_event_id="evt_plain",
        event_type="order.created",
        body=b'{"a": "\\u00e9"}\x00\xff',
        body_sha256="0" * 64,
        headers={"x-procureiq-signature": "sha256=ab", "nested": {"n": [1, 2.5, None]}},
    )
    plain_sql.insert(event)
    record = Delivery(
        endpoint=endpoint,
        slug=endpoint.slug,
        outcome=DeliveryOutcome.ACCEPTED,
        status_code=200,
        event=event,
        remote_addr="::1",
        headers={"user-agent": "x"},
        latency_ms=1.5,
    )
    plain_sql.insert(record)

    assert record.pk is not None and not record._state.adding
    stored_event = Event.objects.get(pk=event.pk)
    assert bytes(stored_event.body) == bytes(event.body)
    assert stored_event.headers == event.headers
    assert stored_event.updated_at is not None
    assert _fields(Delivery.objects.get(pk=record.pk)) == _fields(record)


@pytest.mark.django_db
def test_it_refuses_to_insert_a_model_something_listens_to(make_endpoint):
    from django.db.models.signals import post_save

    endpoint, _ = make_endpoint("procureiq")
    heard = []

    def receiver(sender, instance, **kwargs):
        heard.append(instance.pk)

    event = Event(endpoint=endpoint, event_type="order.created", body=b"{}", body_sha256="0")
    post_save.connect(receiver, sender=Event, dispatch_uid="test.plain_sql.listener")
    try:
        with pytest.raises(plain_sql.SignalsWouldBeSkipped, match=r"webhooks\.Event"):
            plain_sql.insert(event)
        with pytest.raises(plain_sql.SignalsWouldBeSkipped):
            plain_sql.insert_many([event])
    finally:
        post_save.disconnect(receiver, sender=Event, dispatch_uid="test.plain_sql.listener")
    assert not Event.objects.filter(pk=event.pk).exists()

    plain_sql.insert(event)  # nothing listens any more
    assert Event.objects.filter(pk=event.pk).exists() and heard == []


def test_the_hot_path_sql_names_tables_from_the_models():
    # A table typed into SQL would break when a model's table is renamed or moves app.
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    typed = re.compile(r"(FROM|INTO|UPDATE|JOIN)\s+(webhooks|rules|integrations|console|core)_\w+")
    found = [
        f"{path.relative_to(root)}:{number}"
        for app in ("core", "webhooks", "rules", "integrations", "console")
        for path in (root / app).rglob("*.py")
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if typed.search(line)
    ]
    assert found == []
