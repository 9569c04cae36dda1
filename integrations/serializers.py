"""API shapes of destinations and outbound deliveries. Inputs check types only; the services
check meaning (durations, templates, TLS material) and say what is wrong."""

from rest_framework import serializers

from integrations.adapters import get_adapter
from integrations.models import Destination, OutboundAttempt, OutboundDelivery
from integrations.outbound import destination_schedule


class DestinationInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    url = serializers.CharField(max_length=2000)
    adapter = serializers.CharField(required=False)
    signature_scheme = serializers.CharField(required=False)
    event_types = serializers.ListField(child=serializers.CharField(), required=False)
    block_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    key = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    connection_timeout = serializers.CharField(required=False)
    retry_schedule = serializers.ListField(
        child=serializers.FloatField(), required=False, allow_null=True
    )
    status_mapping = serializers.DictField(
        child=serializers.CharField(), required=False, allow_null=True
    )
    body_template = serializers.CharField(required=False, allow_blank=True)
    scope = serializers.CharField(required=False)
    active = serializers.BooleanField(required=False)
    rate_limit = serializers.FloatField(required=False, allow_null=True)
    max_in_flight = serializers.IntegerField(required=False, allow_null=True)
    disable_after_seconds = serializers.IntegerField(required=False, allow_null=True)
    tls = serializers.DictField(required=False)
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Absent: generated. Empty or null: unsigned destination.",
    )


class DestinationPatchSerializer(DestinationInputSerializer):
    rotate_secret = serializers.BooleanField(required=False, default=False)


class DestinationSerializer(serializers.ModelSerializer):
    signed = serializers.BooleanField(read_only=True)
    has_key = serializers.BooleanField(read_only=True)
    block_id = serializers.SerializerMethodField()
    status_mapping = serializers.SerializerMethodField()
    effective_retry_schedule = serializers.SerializerMethodField()
    tls = serializers.SerializerMethodField()

    class Meta:
        model = Destination
        fields = [
            "id",
            "name",
            "adapter",
            "url",
            "signature_scheme",
            "signed",
            "secret_fingerprint",
            "has_key",
            "event_types",
            "block_id",
            "connection_timeout",
            "retry_schedule",
            "effective_retry_schedule",
            "status_mapping",
            "body_template",
            "scope",
            "active",
            "rate_limit",
            "max_in_flight",
            "disable_after_seconds",
            "disabled_reason",
            "tls",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_block_id(self, obj) -> str | None:
        return obj.block_id or None

    def get_status_mapping(self, obj) -> dict[str, str]:
        return get_adapter(obj.adapter).status_mapping(obj.status_mapping)

    def get_effective_retry_schedule(self, obj) -> list[float]:
        return destination_schedule(obj)

    def get_tls(self, obj) -> dict:
        return {
            "verify": not obj.tls_trust_all,
            "trust_all": obj.tls_trust_all,
            "insecure": obj.tls_trust_all,
            "ca_bundle": obj.tls_ca_bundle or None,
            "client_cert": obj.tls_client_cert or None,
            "has_client_key": obj.has_client_key,
        }


class OutboundAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutboundAttempt
        fields = [
            "number",
            "started_at",
            "duration_ms",
            "result",
            "status_code",
            "retry_count_header",
            "error",
            "response_snippet",
        ]
        read_only_fields = fields


class OutboundDeliverySerializer(serializers.ModelSerializer):
    destination = serializers.CharField(source="destination_id", read_only=True)
    hold_id = serializers.CharField(read_only=True)
    last_response_code = serializers.IntegerField(
        source="last_status_code", read_only=True, allow_null=True
    )

    class Meta:
        model = OutboundDelivery
        fields = [
            "id",
            "destination",
            "event_id",
            "event_type",
            "order_id",
            "hold_id",
            "status",
            "attempts",
            "max_attempts",
            "last_response_code",
            "last_error",
            "next_attempt_at",
            "created_at",
            "succeeded_at",
            "dead_at",
        ]
        read_only_fields = fields


class OutboundDeliveryDetailSerializer(OutboundDeliverySerializer):
    log = OutboundAttemptSerializer(many=True, read_only=True)
    notice = serializers.JSONField(read_only=True)

    class Meta(OutboundDeliverySerializer.Meta):
        fields = [*OutboundDeliverySerializer.Meta.fields, "notice", "log"]
        read_only_fields = fields
