"""REST API for the audit trail: GET /api/v2/audit/ with filters, paginated, and ?format=csv for
an export of every matching entry (streamed), with each entry's place and hashes in the chain."""

import json

from django.http import StreamingHttpResponse
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework_csv.renderers import CSVStreamingRenderer

from core.api import HasModelPermission, NewestFirstPagination
from core.audit_actions import audit_action_choices
from core.errors import Invalid
from core.models import AuditEntry

READ_PERMISSION = "core.export_auditentry"
CSV_FIELDS = ("id", "seq", "at", "actor", "action", "object_type", "object_id", "order_id",
              "reason", "before", "after", "content_hash", "prev_hash", "hash")  # fmt: skip
# A cell a spreadsheet would read as a formula is written with a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = AuditEntry
        fields = CSV_FIELDS


class AuditCSVRenderer(CSVStreamingRenderer):
    """djangorestframework-csv's streaming renderer with fixed columns; JSON values as JSON
    text, and cells starting like a formula neutralised (CSV injection)."""

    header = list(CSV_FIELDS)

    def flatten_item(self, item):
        return {key: self._cell(value) for key, value in item.items()}

    @staticmethod
    def _cell(value):
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False, sort_keys=True)
        if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
            return "'" + value
        return value


class AuditPagination(NewestFirstPagination):
    ordering = ("-at", "-id")


def _moment(name: str, value: str | None):
    if not value:
        return None
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = parse_datetime(day.isoformat() + "T00:00:00")
    except ValueError:  # well formed, but no such day or time
        moment = None
    if moment is None:
        raise Invalid(f"{name} must be an ISO 8601 date or time", field=name)
    return make_aware(moment) if is_naive(moment) else moment


def audit_entries_matching(*, since=None, until=None, action=None, actor=None):
    """Entries in [since, until) with this action and actor (a username, or 'system')."""
    entries = AuditEntry.objects.all()
    if since:
        entries = entries.filter(at__gte=since)
    if until:
        entries = entries.filter(at__lt=until)
    if action:
        if action not in dict(audit_action_choices()):
            raise Invalid(f"unknown action {action!r}", field="action")
        entries = entries.filter(action=action)
    if actor:
        entries = entries.filter(actor_label=actor)
    return entries


@extend_schema(
    parameters=[
        OpenApiParameter("since", OpenApiTypes.DATETIME, description="From this time on."),
        OpenApiParameter("until", OpenApiTypes.DATETIME, description="Before this time."),
        OpenApiParameter("action", str, description="An audit action, e.g. hold.released."),
        OpenApiParameter("actor", str, description="A username, or 'system'."),
        OpenApiParameter("format", str, enum=["json", "csv"], description="csv: every match."),
    ]
)
class AuditEntryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The audit trail, newest first. Auditors and operations may read it."""

    serializer_class = AuditEntrySerializer
    pagination_class = AuditPagination
    permission_classes = [HasModelPermission]
    required_permissions = {"list": READ_PERMISSION}
    renderer_classes = [JSONRenderer, AuditCSVRenderer]

    def get_queryset(self):
        params = self.request.query_params
        return audit_entries_matching(
            since=_moment("since", params.get("since")),
            until=_moment("until", params.get("until")),
            action=params.get("action"),
            actor=params.get("actor"),
        )

    def list(self, request, *args, **kwargs):
        if request.accepted_renderer.format != "csv":
            return super().list(request, *args, **kwargs)
        entries = self.get_queryset().order_by("at", "id").iterator(chunk_size=2000)
        rows = (AuditEntrySerializer(entry).data for entry in entries)
        response = StreamingHttpResponse(
            request.accepted_renderer.render(rows, renderer_context={"header": list(CSV_FIELDS)}),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="hookdesk-audit.csv"'
        return response
