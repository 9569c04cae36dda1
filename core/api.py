"""What every REST API view shares: JSON errors, pagination, permission by Django permission."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions, permissions
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import DomainError


def _message(detail) -> str:
    if isinstance(detail, list):
        return "; ".join(_message(item) for item in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_message(value)}" for key, value in detail.items())
    return str(detail)


def api_exception_handler(exc, context):
    """DRF errors as `{"error": "...", ...}`: one readable message, plus field details."""
    if isinstance(exc, DomainError):
        # The one place a service's refusal becomes an HTTP answer.
        return Response(exc.as_json(), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's 500 handler answers JSON for the API
    data = response.data
    if isinstance(data, dict) and set(data) == {"detail"}:
        response.data = {"error": _message(data["detail"])}
    elif isinstance(data, dict) and "error" not in data:
        response.data = {"error": _message(data), "fields": data}
    elif not isinstance(data, dict):
        response.data = {"error": _message(data)}
    return response


class NewestFirstPagination(CursorPagination):
    """Cursor pages: stable under inserts and no COUNT(*) over large tables."""

    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"
    ordering = "-created_at"


class HasModelPermission(permissions.BasePermission):
    """`required_permissions` on the view maps an action (or HTTP method) to one Django
    permission, e.g. {"list": "rules.view_heldorder", "release": "rules.decide_heldorder"}."""

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        required = view.required_permissions
        key = getattr(view, "action", None) or request.method.lower()
        permission = required.get(key) or required.get(request.method.lower())
        if permission is None:
            return False  # an action nobody mapped is refused, not allowed by default
        return request.user.has_perm(permission)


def json_not_found(request, exception=None):
    return JsonResponse({"error": "not found"}, status=404)


def json_server_error(request):
    return JsonResponse({"error": "internal error; it has been logged"}, status=500)


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": True},
    },
    "required": ["error"],
    "additionalProperties": True,
}


class ApiSchema(AutoSchema):
    """The OpenAPI schema of an operation, with the JSON errors it can answer besides its own
    responses: 401/403 everywhere, 404 for an unknown id or an invalid page cursor, 400 for a
    body or query that does not validate (any query carrying a NUL byte is refused), 429 past
    the request rate (core.api_throttle)."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        errors = {"401": "Not authenticated", "403": "No permission for this operation"}
        is_list = self.method == "GET" and self._is_list_view()
        if "{" in self.path or is_list:
            errors["404"] = "No such object, or an invalid page cursor"
        errors["400"] = "The body or query does not validate"
        errors["429"] = "Too many requests from this token or address: retry after Retry-After"
        for code, description in errors.items():
            if code not in responses:
                responses[code] = {
                    **self._get_response_for_code(ERROR_SCHEMA, code, direction=direction),
                    "description": description,
                }
        return responses
