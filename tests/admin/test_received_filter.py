"""The received filter: an absolute window (an alert's link) shows as the chosen window, and
"All" or a preset replaces it rather than adding to it."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks.models import Event


@pytest.mark.django_db
def test_all_and_the_presets_clear_an_absolute_window(admin_client, make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    now = timezone.now()
    for hours_ago in (1, 30):
        Event.objects.create(
            endpoint=endpoint, event_type="order.created", body=b"{}", body_sha256="0",
            received_at=now - timedelta(hours=hours_ago),
        )  # fmt: skip
    after, before = (now - timedelta(hours=2)).isoformat(), now.isoformat()

    page = admin_client.get(
        "/admin/webhooks/event/", {"received_after": after, "received_before": before}
    ).content.decode()

    start = page.index('data-filter-title="received"')
    received = page[start : page.index("</details>", start)]
    links = {
        label: href
        for href, label in re.findall(r'<a href="([^"]*)"[^>]*>\s*([^<]+?)\s*</a>', received)
    }
    assert "received_after" not in links["All"]
    assert (
        "received_after" not in links["Last 24 hours"] and "received=24h" in links["Last 24 hours"]
    )
    chosen = re.search(r'class="selected"[^>]*>\s*<a[^>]*>\s*(From [^<]+?)\s*</a>', received)
    assert chosen, "the absolute window is shown as the chosen one"
    assert page.count('name="_selected_action"') == 1  # only the event inside the window
