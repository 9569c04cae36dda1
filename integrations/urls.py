"""API routes of the integrations app, mounted under /api/v2/ (with or without trailing slash)."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from integrations.api import DestinationDeliveryViewSet, DestinationViewSet

router = SimpleRouter(trailing_slash="/?")
router.register("destinations", DestinationViewSet, basename="destination")

_delivery = r"^destinations/(?P<destination_id>[^/.]+)/deliveries"
urlpatterns = [
    re_path(
        rf"{_delivery}/?$",
        DestinationDeliveryViewSet.as_view({"get": "list"}),
        name="destination-deliveries",
    ),
    re_path(
        rf"{_delivery}/(?P<pk>[^/.]+)/?$",
        DestinationDeliveryViewSet.as_view({"get": "retrieve"}),
        name="destination-delivery",
    ),
    re_path(
        rf"{_delivery}/(?P<pk>[^/.]+)/retry/?$",
        DestinationDeliveryViewSet.as_view({"post": "retry"}),
        name="destination-delivery-retry",
    ),
    re_path(
        rf"{_delivery}/(?P<pk>[^/.]+)/cancel/?$",
        DestinationDeliveryViewSet.as_view({"post": "cancel"}),
        name="destination-delivery-cancel",
    ),
    *router.urls,
]
