"""REST API for orders, holds, blocks and backtest runs. Views parse and authorise; services
decide."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERROR_SCHEMA, HasModelPermission, NewestFirstPagination
from rules.backtest import backtest_run_cancel, backtest_run_start, backtest_run_work
from rules.block_stats import block_stats, stats_period_parse
from rules.evidence import EVIDENCE_PERMISSIONS, hold_evidence
from rules.models import BacktestRun, BacktestStatus, Block, HeldOrder, Order
from rules.recheck import block_recheck
from rules.serializers import (
    BacktestInputSerializer,
    BacktestResultSerializer,
    BacktestRunAcceptedSerializer,
    BacktestRunSerializer,
    BlockSerializer,
    BlockStatsQuerySerializer,
    BlockStatsSerializer,
    BlockVersionSerializer,
    DecisionInputSerializer,
    HoldSerializer,
    OrderPatchSerializer,
    OrderSerializer,
    RecheckInputSerializer,
    RecheckResultSerializer,
    backtest_run_result,
)
from rules.services import (
    block_create,
    block_update,
    hold_reject,
    hold_release_under_policy,
    order_metadata_update,
)


class OrderDetail(APIView):
    permission_classes = [HasModelPermission]
    required_permissions = {"get": "rules.view_order", "patch": "rules.change_order"}

    @extend_schema(responses=OrderSerializer)
    def get(self, request, order_id: str):
        order = get_object_or_404(Order, order_id=order_id)
        return Response(OrderSerializer(order).data)

    @extend_schema(request=OrderPatchSerializer, responses=OrderSerializer)
    def patch(self, request, order_id: str):
        order = get_object_or_404(Order, order_id=order_id)
        data = OrderPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = order_metadata_update(
            order=order, metadata=data.validated_data["metadata"], actor=request.user
        )
        return Response(OrderSerializer(order).data)


class HoldViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = HoldSerializer
    pagination_class = NewestFirstPagination
    permission_classes = [HasModelPermission]
    required_permissions = {
        "list": "rules.view_heldorder",
        "retrieve": "rules.view_heldorder",
        "release": "rules.decide_heldorder",
        "reject": "rules.decide_heldorder",
        "evidence": "rules.view_heldorder",
    }

    def get_queryset(self):
        holds = HeldOrder.objects.select_related("order", "block", "reviewer")
        params = self.request.query_params
        if params.get("status"):
            holds = holds.filter(status=params["status"])
        if params.get("order_id"):
            holds = holds.filter(order__order_id=params["order_id"])
        if params.get("block_id"):
            holds = holds.filter(block__block_id=params["block_id"])
        if params.get("outcome"):
            holds = holds.filter(outcome=params["outcome"])
        return holds

    def _decide(self, request, decide):
        hold = self.get_object()
        data = DecisionInputSerializer(data=request.data)
        if not data.is_valid():
            field = "reason" if "reason" in data.errors else "outcome"
            message = "a reason is required" if field == "reason" else "outcome is not valid"
            return Response({"error": message, "field": field}, status=status.HTTP_400_BAD_REQUEST)
        hold = decide(
            hold=hold,
            actor=request.user,
            reason=data.validated_data["reason"],
            outcome=data.validated_data.get("outcome", ""),
        )
        return Response(HoldSerializer(hold).data)

    @extend_schema(
        request=DecisionInputSerializer,
        responses={200: HoldSerializer, 202: dict, 409: ERROR_SCHEMA},
    )
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        response = self._decide(request, hold_release_under_policy)
        if response.status_code == 200 and response.data["status"] == "held":
            # Four eyes: this release waits for a second, different reviewer to POST release.
            return Response(
                {"status": "awaiting_confirmation", "hold": response.data},
                status=status.HTTP_202_ACCEPTED,
            )
        return response

    @extend_schema(
        request=DecisionInputSerializer, responses={200: HoldSerializer, 409: ERROR_SCHEMA}
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, hold_reject)

    @extend_schema(
        responses={200: dict},
        description="Everything behind the hold in one JSON document: the hold, its order, "
        "the block version and condition, the signals, each event with its raw body (base64), "
        "headers and signature checked again now, the decisions, comments, audit entries and "
        "outbound deliveries with their answers, and a `digest` (sha256) over the rest. "
        "`manage.py verify_evidence FILE` checks a saved package offline.",
    )
    @action(detail=True, methods=["get"])
    def evidence(self, request, pk=None):
        hold = self.get_object()
        if not request.user.has_perms(EVIDENCE_PERMISSIONS):
            raise PermissionDenied
        return Response(hold_evidence(hold=hold, actor=request.user))


class BlockViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = BlockSerializer
    pagination_class = NewestFirstPagination
    permission_classes = [HasModelPermission]
    lookup_field = "block_id"
    http_method_names = ["get", "post", "patch", "head", "options"]
    required_permissions = {
        "list": "rules.view_block",
        "retrieve": "rules.view_block",
        "versions": "rules.view_block",
        "stats": "rules.view_block",
        "create": "rules.add_block",
        "partial_update": "rules.change_block",
        "backtest": "rules.change_block",
        # Re-checking the block as saved only reads; previewing an edit takes change_block.
        "recheck": "rules.view_block",
    }

    def get_queryset(self):
        blocks = Block.objects.all()
        if self.request.query_params.get("status"):
            blocks = blocks.filter(status=self.request.query_params["status"])
        return blocks

    def create(self, request, *args, **kwargs):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        block = block_create(actor=request.user, **data.validated_data)
        return Response(self.get_serializer(block).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        block = self.get_object()
        data = self.get_serializer(block, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        block = block_update(block=block, actor=request.user, **data.validated_data)
        return Response(self.get_serializer(block).data)

    @extend_schema(responses=BlockVersionSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)  # every version, one list
    def versions(self, request, block_id=None):
        block = self.get_object()
        return Response(BlockVersionSerializer(block.versions.all(), many=True).data)

    @extend_schema(
        parameters=[BlockStatsQuerySerializer],
        responses={200: BlockStatsSerializer, 400: ERROR_SCHEMA},
        description="The block's holds created in [since, until) (default: the 30 days up to "
        "now) by outcome, its reject rate, median time to decision and shadow matches.",
    )
    @action(detail=True, methods=["get"])
    def stats(self, request, block_id=None):
        block = self.get_object()
        since, until = stats_period_parse(
            since=request.query_params.get("since"), until=request.query_params.get("until")
        )
        return Response(block_stats(block=block, since=since, until=until).as_json())

    @extend_schema(
        request=BacktestInputSerializer,
        responses={
            200: BacktestResultSerializer,
            202: BacktestRunAcceptedSerializer,
            400: ERROR_SCHEMA,
            500: ERROR_SCHEMA,
        },
        description="Runs the block over processed events received in [since, until) "
        "(default: the 7 days up to now) and answers what it would have held. A run still "
        "going after HOOKDESK_BACKTEST_WAIT_SECONDS goes on in the background: the answer is "
        "then 202 with the run's `url` to follow.",
    )
    @action(detail=True, methods=["post"])
    def backtest(self, request, block_id=None):
        block = self.get_object()
        data = BacktestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = backtest_run_start(
            block=block,
            since=data.validated_data.get("since"),
            until=data.validated_data.get("until"),
            actor=request.user,
            queue=False,
        )
        run = backtest_run_work(run=run, seconds=settings.HOOKDESK["BACKTEST_WAIT_SECONDS"])
        if run.status == BacktestStatus.DONE:
            return Response(backtest_run_result(run))
        if run.status == BacktestStatus.FAILED:
            return Response(
                {"error": "the backtest failed; it has been logged", "id": str(run.pk)},
                status=status.HTTP_500_INTERNAL_SERVER_ERROR,
            )
        return Response(BacktestRunAcceptedSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=RecheckInputSerializer,
        responses={200: RecheckResultSerializer, 400: ERROR_SCHEMA},
        description="Which open holds of the block nothing would hold any more, and which "
        "recent clear orders (a processed event in the last 7 days, never held) it would now "
        "hold, with the block as saved or as an unsaved `condition` and/or `status` would make "
        "it; decided as processing decides. Changes nothing. Bounded: see `truncated`. "
        "Previewing an edit needs the permission to change blocks.",
    )
    @action(detail=True, methods=["post"])
    def recheck(self, request, block_id=None):
        block = self.get_object()
        body = request.data
        if not isinstance(body, dict):
            return Response({"error": "expected a JSON object"}, status=400)
        user = request.user
        if not user.has_perm("rules.view_heldorder") or (
            body and not user.has_perm("rules.change_block")
        ):
            self.permission_denied(request)
        unknown = sorted(set(body) - set(RecheckInputSerializer().fields))
        if unknown:
            return Response({"error": f"unknown fields: {', '.join(unknown)}"}, status=400)
        data = RecheckInputSerializer(data=body)
        data.is_valid(raise_exception=True)
        return Response(block_recheck(block=block, changes=data.validated_data).as_json())


class BacktestRunViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Backtest runs started by POST /api/v2/blocks/<block_id>/backtest/."""

    serializer_class = BacktestRunSerializer
    permission_classes = [HasModelPermission]
    # Whoever may start a backtest may follow and stop one.
    required_permissions = {"retrieve": "rules.change_block", "cancel": "rules.change_block"}
    queryset = BacktestRun.objects.select_related("block", "created_by")

    @extend_schema(request=None, responses={200: BacktestRunSerializer, 409: ERROR_SCHEMA})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = self.get_object()
        if not backtest_run_cancel(run=run):
            return Response(
                {"error": f"the backtest has already finished ({run.status})"},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(self.get_serializer(run).data)
