"""REST API for events (list, detail, replay) and the test-webhook helper."""

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERROR_SCHEMA, HasModelPermission, NewestFirstPagination
from webhooks.models import Endpoint, Event
from webhooks.replay import event_replay
from webhooks.samples import sample_delivery, sample_receive
from webhooks.serializers import (
    EventDetailSerializer,
    EventSerializer,
    ReplayInputSerializer,
    TestWebhookInputSerializer,
    TestWebhookOutputSerializer,
)


class EventPagination(NewestFirstPagination):
    ordering = "-received_at"


@extend_schema(
    parameters=[
        OpenApiParameter("endpoint", str, description="endpoint slug"),
        OpenApiParameter("type", str, description="event type"),
        OpenApiParameter("status", str, description="processing status"),
        OpenApiParameter("order_id", str),
    ]
)
class EventViewSet(viewsets.ReadOnlyModelViewSet):
    pagination_class = EventPagination
    permission_classes = [HasModelPermission]
    required_permissions = {
        "list": "webhooks.view_event",
        "retrieve": "webhooks.view_event",
        "replay": "webhooks.replay_event",
    }

    def get_serializer_class(self):
        return EventDetailSerializer if self.action == "retrieve" else EventSerializer

    def get_queryset(self):
        events = Event.objects.select_related("endpoint").defer("body", "headers", "order_view")
        if self.action == "retrieve":
            events = Event.objects.select_related("endpoint").prefetch_related(
                "processing_attempts"
            )
        params = self.request.query_params
        if params.get("endpoint"):
            events = events.filter(endpoint__slug=params["endpoint"])
        if params.get("type"):
            events = events.filter(event_type=params["type"])
        if params.get("status"):
            events = events.filter(status=params["status"])
        if params.get("order_id"):
            events = events.filter(order_id=params["order_id"])
        return events

    @extend_schema(request=ReplayInputSerializer, responses={202: dict, 409: dict})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        event = self.get_object()
        data = ReplayInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not event_replay(event=event, actor=request.user, reason=data.validated_data["reason"]):
            return Response(
                {"error": "the event is being processed right now; try again shortly"},
                status=status.HTTP_409_CONFLICT,
            )
        return Response({"status": "queued", "event": event.pk}, status=status.HTTP_202_ACCEPTED)


class TestWebhook(APIView):
    """Build a correctly signed sample event for one of this console's endpoints and hand it to
    this console's own receiver in this process (`sample_receive`: the receiver's own request
    handling, no HTTP round trip, so no web worker waits on another); answer with the
    receiver's response and the event it stored."""

    permission_classes = [HasModelPermission]
    required_permissions = {"post": "webhooks.change_endpoint"}

    @extend_schema(
        request=TestWebhookInputSerializer,
        responses={200: TestWebhookOutputSerializer, 404: ERROR_SCHEMA},
    )
    def post(self, request):
        data = TestWebhookInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        endpoint = get_object_or_404(Endpoint, slug=values["endpoint"])
        delivery = sample_delivery(
            endpoint=endpoint,
            event_type=values.get("event_type"),
            order_id=values.get("order_id"),
            amount=values["order_value"],
            customer_id=values.get("customer_id"),
            test=True,
        )
        # Only ever our own receiver: the path is the endpoint's, never request input.
        receipt = sample_receive(delivery=delivery)
        event_url = None
        if receipt.event_id:
            event_url = settings.HOOKDESK["PUBLIC_BASE_URL"].rstrip("/") + reverse(
                "admin:webhooks_event_change", args=[receipt.event_id]
            )
        answer = {
            "status_code": receipt.status_code,
            "response": receipt.body,
            "event_type": delivery.event_type,
            "event": receipt.event_id,
            "event_url": event_url,
        }
        return Response(TestWebhookOutputSerializer(answer).data, status=status.HTTP_200_OK)
