"""The pipeline end to end with a real django-q2 cluster on the test database."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from tests.postgres import requires_postgres
from tests.signing import as_meta, procureiq_headers
from tests.support.cluster import wait_for
from webhooks.models import Event, EventStatus
from webhooks.processing import events_sweep

pytestmark = [requires_postgres(), pytest.mark.cluster]


def _order_created(n: int) -> bytes:
    return (
        b'{"id":"evt_c%d","type":"order.created","version":"1.0","created":1711234601,'
        b'"data":{"orderId":"ord_%d","userId":"usr_1","totalAmount":742.5,"currency":"USD"}}'
        % (n, n)
    )


def _deliver(client, endpoint, secret, body):
    response = client.post(
        endpoint.receiver_path,
        data=body,
        content_type="application/json",
        **as_meta(procureiq_headers(body, secret)),
    )
    assert response.status_code == 200, response.content
    return Event.objects.get(pk=response.json()["event"])


def _processed(event: Event) -> bool:
    event.refresh_from_db()
    return event.status == EventStatus.PROCESSED


def test_it_processes_received_events_in_a_real_cluster(client, make_endpoint, qcluster):
    endpoint, secret = make_endpoint("procureiq")
    qcluster()
    events = [_deliver(client, endpoint, secret, _order_created(n)) for n in range(5)]

    for event in events:
        wait_for(lambda event=event: _processed(event))
    assert sorted(e.order_id for e in events) == [f"ord_{n}" for n in range(5)]
    for event in events:
        assert list(event.processing_attempts.values_list("trigger", "outcome")) == [
            ("queue", "succeeded")
        ]


def test_it_processes_an_event_whose_enqueue_was_lost_through_the_sweep(
    client, make_endpoint, qcluster
):
    endpoint, secret = make_endpoint("procureiq")
    event = _deliver(client, endpoint, secret, _order_created(99))
    # The process "died" after commit and before its task reached a worker: the queue
    # never got the task.
    OrmQ.objects.all().delete()
    qcluster()
    Event.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=5))

    assert events_sweep()["lost"] == 1

    wait_for(lambda: _processed(event))
    assert list(event.processing_attempts.values_list("trigger", flat=True)) == ["sweep"]
