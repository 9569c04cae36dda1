"""The dashboard shows downstream destinations' health."""

import pytest
from django.contrib.auth.models import User

from console.dashboard import dashboard_figures
from integrations.services import destination_create


@pytest.mark.django_db
def test_it_lists_each_destination_with_its_health_on_the_dashboard(client):
    destination_create(name="Eclipse ERP", url="http://127.0.0.1:9/hook")
    health = dashboard_figures()["destinations"]
    assert [(row["name"], row["attempts_24h"], row["success_rate_24h"]) for row in health] == [
        ("Eclipse ERP", 0, None)
    ]

    client.force_login(User.objects.create_superuser("root", password="root-pass-0123"))
    page = client.get("/admin/console/dashboard/").content.decode()
    assert "Downstream destinations" in page
    assert "Eclipse ERP" in page
