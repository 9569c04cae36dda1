"""A list over a big table says what its count is: past the cap a lower bound ("more than
1,000"), for the planner's estimate an approximation, never a precise-looking figure."""

import hashlib
import re

import pytest
from django.test import Client

from core.pagination import COUNT_CAP, EstimatedCountPaginator, count_label
from webhooks.models import Event, EventStatus


@pytest.fixture
def operator(people):
    user = people["oscar"]
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return client


def stored_events(endpoint, count: int, **fields) -> None:
    body = b'{"type": "order.created"}'
    Event.objects.bulk_create(
        Event(
            endpoint=endpoint,
            provider_event_id=f"evt_many_{n}",
            event_type="order.created",
            body=body,
            body_sha256=hashlib.sha256(body).hexdigest(),
            **fields,
        )
        for n in range(count)
    )


def test_it_reads_a_capped_event_count_as_a_lower_bound(operator, make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    stored_events(endpoint, COUNT_CAP + 1, status=EventStatus.PENDING)

    page = operator.get(f"/admin/webhooks/event/?endpoint={endpoint.slug}&status=pending")

    assert page.status_code == 200
    html = page.content.decode()
    assert '<span class="hd-result-count">more than 1,000</span> results' in html
    assert '<span class="hd-result-count">more than 1,000</span> events' in html
    assert "Select all matching events (more than 1,000)" in html
    assert not re.search(r"\b1,?001\b", html)


def test_it_shows_an_exact_count_below_the_cap(operator, make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    stored_events(endpoint, 3)

    html = operator.get(f"/admin/webhooks/event/?endpoint={endpoint.slug}").content.decode()

    assert '<span class="hd-result-count">3</span> results' in html
    assert '<span class="hd-result-count">3</span> events' in html


def test_it_labels_estimates_caps_and_exact_counts(db):
    exact = EstimatedCountPaginator(Event.objects.all(), 10)
    assert count_label(exact, exact.count) == "0"
    capped = EstimatedCountPaginator(Event.objects.all(), 10)
    capped.capped = True
    assert count_label(capped, COUNT_CAP + 1) == "more than 1,000"
    estimated = EstimatedCountPaginator(Event.objects.all(), 10)
    estimated.estimated = True
    assert count_label(estimated, 1_003_518) == "about 1,003,518"
