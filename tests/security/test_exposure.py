"""After creation, no secret in any API response or admin page, walked as a superuser."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from integrations.models import OutboundDelivery
from tests.security.conftest import held_order

pytestmark = pytest.mark.django_db


def test_it_shows_no_secret_in_any_api_response(secret_world):
    hold = held_order(
        secret_world.endpoints["autranex"],
        secret_world.secrets["autranex rotated secret"],
        order_id="ord_api",
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret_world.token}")
    destination = secret_world.destination
    delivery = OutboundDelivery.objects.filter(destination=destination).first()
    event = hold.event
    paths = [
        "/api/v2/events/",
        f"/api/v2/events/{event.pk}/",
        "/api/v2/holds/",
        f"/api/v2/holds/{hold.id}/",
        "/api/v2/orders/ord_api/",
        "/api/v2/blocks/",
        "/api/v2/destinations/",
        f"/api/v2/destinations/{destination.pk}/",
        f"/api/v2/destinations/{destination.pk}/deliveries/",
        "/api/schema/",
        "/metrics",
        "/healthz",
    ]
    if delivery is not None:
        paths.append(f"/api/v2/destinations/{destination.pk}/deliveries/{delivery.pk}/")
    seen = {}
    for path in paths:
        response = api.get(path)
        assert response.status_code in (200, 503), (path, response.status_code)
        seen[path] = secret_world.leaks(response.content.decode())
    assert {path: labels for path, labels in seen.items() if labels} == {}


def _admin_pages() -> list[str]:
    """Every registered model's changelist, its add page where adding is possible, and the
    change and history pages of up to three of its objects."""
    pages = [reverse("admin:index"), reverse("console-dashboard")]
    request = _superuser_request()
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        base = f"admin:{opts.app_label}_{opts.model_name}"
        pages.append(reverse(f"{base}_changelist"))
        if model_admin.has_add_permission(request):
            pages.append(reverse(f"{base}_add"))
        for obj in model_admin.get_queryset(request).order_by("pk")[:3]:
            pages += [
                reverse(f"{base}_change", args=[obj.pk]),
                reverse(f"{base}_history", args=[obj.pk]),
            ]
    return pages


def _superuser_request():
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = User.objects.filter(is_superuser=True).first()
    return request


def test_it_shows_no_secret_on_any_admin_page(secret_world):
    held_order(
        secret_world.endpoints["autranex"],
        secret_world.secrets["autranex rotated secret"],
        order_id="ord_admin",
    )
    browser = Client()
    browser.force_login(User.objects.filter(is_superuser=True).first())
    pages = _admin_pages()
    assert any("/webhooks/endpoint/" in page and "/change/" in page for page in pages)
    assert any("/integrations/destination/" in page and "/change/" in page for page in pages)
    assert any("/authtoken/tokenproxy/" in page and "/change/" in page for page in pages)
    seen = {}
    for page in pages:
        response = browser.get(page, follow=True)  # a singleton's changelist redirects
        assert response.status_code == 200, (page, response.status_code)
        seen[page] = secret_world.leaks(response.content.decode())
    assert {page: labels for page, labels in seen.items() if labels} == {}
