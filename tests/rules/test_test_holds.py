"""Holds made by test events carry a test badge and stay out of the review queue unless a
reviewer asks for them (Traffic: real by default, test, all)."""

import pytest
from django.test import Client
from django.urls import reverse

from rules.services import block_create
from tests.support.events import process
from webhooks.models import Event
from webhooks.samples import sample_delivery, sample_receive

pytestmark = pytest.mark.django_db

QUEUE = "/admin/rules/heldorder/?status__exact=held"


@pytest.fixture
def holds(make_endpoint):
    block_create(name="High value", condition="order_value > 5000", action="hold")
    endpoint, _ = make_endpoint("procureiq")
    made = {}
    for kind, test in (("test", True), ("real", False)):
        receipt = sample_receive(
            delivery=sample_delivery(endpoint=endpoint, amount=9000, test=test)
        )
        event = Event.objects.get(pk=receipt.event_id)
        process(event)
        made[kind] = event.hold
    return made


@pytest.fixture
def alice(people):
    people["alice"].is_staff = True
    people["alice"].save(update_fields=["is_staff"])
    client = Client()
    client.force_login(people["alice"])
    return client


def _listed(client, url) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    return {hold.pk for hold in response.context["cl"].result_list}


def test_it_leaves_test_holds_out_of_the_review_queue_by_default(alice, holds):
    assert _listed(alice, QUEUE) == {holds["real"].pk}
    assert _listed(alice, QUEUE + "&traffic=test") == {holds["test"].pk}
    assert _listed(alice, QUEUE + "&traffic=all") == {holds["real"].pk, holds["test"].pk}


def test_it_offers_real_as_the_default_traffic_choice(alice, holds):
    page = alice.get(QUEUE).content.decode()
    assert "Real (default)" in page and ">Test<" in page.replace("\n", "")


def test_it_badges_test_holds_on_the_list_and_the_page(alice, holds):
    listing = alice.get(QUEUE + "&traffic=all").content.decode()
    assert listing.count('class="hd-badge test"') == 1
    test_page = alice.get(reverse("admin:rules_heldorder_change", args=[holds["test"].pk]))
    real_page = alice.get(reverse("admin:rules_heldorder_change", args=[holds["real"].pk]))
    assert 'id="hold-test"' in test_page.content.decode()
    assert 'id="hold-test"' not in real_page.content.decode()


def test_it_badges_test_events_on_the_list_and_the_page(alice, holds):
    listing = alice.get("/admin/webhooks/event/").content.decode()
    assert listing.count('class="hd-badge test"') == 1
    event = holds["test"].event_id
    page = alice.get(reverse("admin:webhooks_event_change", args=[event])).content.decode()
    assert 'class="hd-badge test"' in page
    real = holds["real"].event_id
    page = alice.get(reverse("admin:webhooks_event_change", args=[real])).content.decode()
    assert 'class="hd-badge test"' not in page
