"""The receiver view: HTTP in, a decision from webhooks.receiver, JSON out.

A DRF `APIView` that parses nothing: the signature covers the raw bytes, so the body is read from
the underlying Django request and handed to `webhooks.receiver.receive` untouched. It
authenticates nobody (the provider's signature does), throttles nothing and checks no
permission, so DRF's per-request machinery costs it no session or user lookup."""

import logging

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from core.crypto import SecretDecryptionError
from webhooks.providers import SCHEMES
from webhooks.receiver import IncomingDelivery, receive

logger = logging.getLogger(__name__)


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def _read_body(request: HttpRequest):
    environ = request.META
    # Django bounds its stream by Content-Length, so a chunked body (which has none) reads as
    # empty. A server that terminates its input stream (gunicorn) lets us read it ourselves.
    chunked = (
        "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        and not environ.get("CONTENT_LENGTH")
        and environ.get("wsgi.input_terminated")
    )

    def read(limit: int) -> bytes:
        # Read no more than the limit allows so an oversized body is never held in memory.
        if not chunked:
            return request.read(limit)
        stream, body = environ["wsgi.input"], bytearray()
        while len(body) < limit:
            chunk = stream.read(limit - len(body))
            if not chunk:
                break
            body += chunk
        return bytes(body)

    return read


def delivery_from_request(request: HttpRequest, slug: str) -> IncomingDelivery:
    """The Django request as the receiver sees it; the body is not read yet."""
    return IncomingDelivery(
        slug=slug,
        headers={name.lower(): value for name, value in request.headers.items()},
        query=request.GET,
        remote_addr=request.META.get("REMOTE_ADDR") or None,
        content_length=_content_length(request),
        read_body=_read_body(request),
    )


_RECEIPT = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["received", "duplicate"]},
        "event": {"type": "string", "description": "the hookdesk event id"},
    },
    "required": ["status", "event"],
}
_REFUSAL = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
    "required": ["error"],
}


class ReceiverSchema(AutoSchema):
    """The receiver's operation: each registered scheme's headers, read from the schemes when
    the schema is generated, so a new scheme documents itself."""

    def get_override_parameters(self):
        parameters = [
            OpenApiParameter(
                "key",
                str,
                OpenApiParameter.QUERY,
                description="Automation API: the installation key, when the endpoint has one",
            )
        ]
        for scheme in SCHEMES.values():
            for name, description in scheme.signature_headers:
                parameters.append(
                    OpenApiParameter(
                        name,
                        str,
                        OpenApiParameter.HEADER,
                        description=f"{scheme.label} (`{scheme.name}`): {description}",
                    )
                )
        return parameters


class WebhookReceiver(APIView):
    """`POST /webhooks/<slug>/`: verify, store, acknowledge (SPEC §3)."""

    # Nothing parses the body: the signature is checked on the raw bytes.
    parser_classes = ()
    renderer_classes = (JSONRenderer,)
    # Authenticated by the provider's signature, not by a session or a token.
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    schema = ReceiverSchema()

    @extend_schema(
        operation_id="webhooks_receive",
        summary="Receive a signed webhook",
        description=(
            "The signature is verified on the raw request bytes against every live secret of"
            " the endpoint, with the endpoint's scheme: send the headers of that scheme only."
            " A 2xx means the event is durably stored; processing happens later."
        ),
        tags=["webhooks"],
        request={"application/json": {"type": "object", "additionalProperties": True}},
        responses={
            200: OpenApiResponse(_RECEIPT, description="Stored (`received`) or already stored"),
            400: OpenApiResponse(_REFUSAL, description="Authentic but unusable envelope"),
            401: OpenApiResponse(
                _REFUSAL,
                description="Missing, malformed or invalid signature; timestamp outside the"
                " tolerance; wrong installation key",
            ),
            404: OpenApiResponse(_REFUSAL, description="Unknown or disabled endpoint"),
            413: OpenApiResponse(_REFUSAL, description="Body over the limit (1 MiB default)"),
            503: OpenApiResponse(_REFUSAL, description="Not stored: retry later"),
        },
        auth=[],
    )
    def post(self, request, slug: str) -> JsonResponse:
        try:
            receipt = receive(delivery_from_request(request._request, slug))
        except (DatabaseError, SecretDecryptionError):
            # Never a 2xx for anything not durably stored: the sender retries later.
            logger.exception("delivery to %s could not be stored", slug[:100])
            return JsonResponse(
                {"error": "temporarily unable to store the delivery; retry later"}, status=503
            )
        return JsonResponse(receipt.body, status=receipt.status_code)


@extend_schema(exclude=True)  # the same operation as WebhookReceiver, spelled without the slash
class WebhookReceiverNoSlash(WebhookReceiver):
    pass
