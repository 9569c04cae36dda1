"""The receiver view: HTTP in, a decision from webhooks.receiver, JSON out."""

import logging

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.crypto import SecretDecryptionError
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


@csrf_exempt  # Authenticated by the provider's signature, not by a session.
@require_POST
def receive_webhook(request: HttpRequest, slug: str) -> JsonResponse:
    delivery = IncomingDelivery(
        slug=slug,
        headers={name.lower(): value for name, value in request.headers.items()},
        query=request.GET,
        remote_addr=request.META.get("REMOTE_ADDR") or None,
        content_length=_content_length(request),
        read_body=_read_body(request),
    )
    try:
        receipt = receive(delivery)
    except (DatabaseError, SecretDecryptionError):
        # Never a 2xx for anything not durably stored: the sender retries later.
        logger.exception("delivery to %s could not be stored", slug[:100])
        return JsonResponse(
            {"error": "temporarily unable to store the delivery; retry later"}, status=503
        )
    return JsonResponse(receipt.body, status=receipt.status_code)
