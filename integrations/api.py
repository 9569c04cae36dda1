"""REST API for destinations and their outbound deliveries. Views parse and authorise;
services decide."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import HasModelPermission, NewestFirstPagination
from integrations.models import Destination, OutboundDelivery
from integrations.selectors import deliveries_for, destination_health
from integrations.serializers import (
    DestinationInputSerializer,
    DestinationPatchSerializer,
    DestinationSerializer,
    OutboundDeliveryDetailSerializer,
    OutboundDeliverySerializer,
)
from integrations.services import (
    UNSET,
    delivery_cancel,
    delivery_retry,
    destination_create,
    destination_delete,
    destination_update,
)


def _unknown_fields(request, serializer) -> Response | None:
    # A misspelt field ("connectionTimeout") silently ignored would be a silent misconfiguration.
    if isinstance(request.data, dict):
        unknown = set(request.data) - set(serializer.fields)
        if unknown:
            return Response(
                {"error": f"unknown fields: {', '.join(sorted(unknown))}",
                 "field": sorted(unknown)[0]},
                status=status.HTTP_400_BAD_REQUEST,
            )  # fmt: skip
    return None


class DestinationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = DestinationSerializer
    pagination_class = NewestFirstPagination
    permission_classes = [HasModelPermission]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_permissions = {
        "list": "integrations.view_destination",
        "retrieve": "integrations.view_destination",
        "create": "integrations.add_destination",
        "partial_update": "integrations.change_destination",
        "destroy": "integrations.delete_destination",
    }

    def get_queryset(self):
        destinations = Destination.objects.all()
        if self.request.query_params.get("active") in ("true", "false"):
            destinations = destinations.filter(active=self.request.query_params["active"] == "true")
        return destinations

    def retrieve(self, request, *args, **kwargs):
        destination = self.get_object()
        return Response(
            {
                **DestinationSerializer(destination).data,
                "health": destination_health(destination=destination),
            }
        )

    @extend_schema(request=DestinationInputSerializer, responses={201: DestinationSerializer})
    def create(self, request, *args, **kwargs):
        data = DestinationInputSerializer(data=request.data)
        if refused := _unknown_fields(request, data):
            return refused
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        destination, secret = destination_create(actor=request.user, **values)
        body = DestinationSerializer(destination).data
        if secret:
            body["secret"] = secret  # shown this once; stored encrypted
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=DestinationPatchSerializer, responses=DestinationSerializer)
    def partial_update(self, request, *args, **kwargs):
        destination = self.get_object()
        data = DestinationPatchSerializer(data=request.data, partial=True)
        if refused := _unknown_fields(request, data):
            return refused
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        destination, secret = destination_update(
            destination=destination,
            actor=request.user,
            key=values.pop("key", UNSET),
            secret=values.pop("secret", UNSET),
            **values,
        )
        body = DestinationSerializer(destination).data
        if secret:
            body["secret"] = secret
        return Response(body)

    def destroy(self, request, *args, **kwargs):
        destination_delete(destination=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    parameters=[
        OpenApiParameter("destination_id", str, OpenApiParameter.PATH),
        OpenApiParameter("status", str, description="pending, succeeded, dead or cancelled"),
        OpenApiParameter("event_type", str),
    ]
)
class DestinationDeliveryViewSet(viewsets.GenericViewSet):
    queryset = OutboundDelivery.objects.none()  # for the schema; get_queryset() filters
    pagination_class = NewestFirstPagination
    permission_classes = [HasModelPermission]
    serializer_class = OutboundDeliverySerializer
    required_permissions = {
        "list": "integrations.view_outbounddelivery",
        "retrieve": "integrations.view_outbounddelivery",
        "retry": "integrations.change_outbounddelivery",
        "cancel": "integrations.change_outbounddelivery",
    }

    def get_queryset(self):
        destination = get_object_or_404(Destination, pk=self.kwargs["destination_id"])
        params = self.request.query_params
        return deliveries_for(
            destination=destination,
            status=params.get("status"),
            event_type=params.get("event_type"),
        )

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(OutboundDeliverySerializer(page, many=True).data)

    @extend_schema(responses=OutboundDeliveryDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        delivery = self.get_object()
        return Response(OutboundDeliveryDetailSerializer(delivery).data)

    @extend_schema(request=None, responses={202: OutboundDeliverySerializer, 409: dict})
    @action(detail=True, methods=["post"])
    def retry(self, request, *args, **kwargs):
        delivery = delivery_retry(delivery=self.get_object(), actor=request.user)
        return Response(OutboundDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: OutboundDeliverySerializer, 409: dict})
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        delivery = delivery_cancel(delivery=self.get_object(), actor=request.user)
        return Response(OutboundDeliverySerializer(delivery).data)
