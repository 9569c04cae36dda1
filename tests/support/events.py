"""Storing and processing events the way production does: through the receiver, then the
pipeline function a worker runs."""

import itertools
import json

from django.test import Client

from tests.signing import as_meta, autranex_headers, procureiq_headers
from webhooks.models import Event
from webhooks.processing import event_process

_ids = itertools.count(1)


def deliver(endpoint, secret, payload: dict, *, client: Client | None = None) -> Event:
    body = json.dumps(payload).encode()
    if endpoint.provider == "autranex":
        headers = autranex_headers(body, secret)
    elif endpoint.provider == "procureiq":
        headers = procureiq_headers(body, secret)
    else:
        raise ValueError(f"no test signer for {endpoint.provider}")
    response = (client or Client()).post(
        endpoint.receiver_path, data=body, content_type="application/json", **as_meta(headers)
    )
    assert response.status_code == 200, response.content
    return Event.objects.get(pk=response.json()["event"])


def procureiq(type_: str, data: dict, *, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_t{next(_ids)}",
        "type": type_,
        "version": "1.0",
        "created": 1711234601,
        "data": data,
        "metadata": {"procureiqVersion": "1.0.0", "environment": "production"},
    }


def autranex(type_: str, data: dict, *, event_id: str | None = None) -> dict:
    return {"event_id": event_id or f"evt_a{next(_ids)}", "event_type": type_, "data": data}


def process(event: Event, trigger: str = "queue") -> str | None:
    status = event_process(event_id=event.pk, trigger=trigger)
    event.refresh_from_db()
    return status
