"""API shapes of events and test deliveries."""

from rest_framework import serializers

from webhooks.models import Event, ProcessingAttempt


class EventSerializer(serializers.ModelSerializer):
    endpoint = serializers.CharField(source="endpoint.slug")
    provider = serializers.CharField(source="endpoint.provider")

    class Meta:
        model = Event
        fields = [
            "id",
            "endpoint",
            "provider",
            "provider_event_id",
            "event_type",
            "status",
            "attempts",
            "received_at",
            "processed_at",
            "next_attempt_at",
            "order_id",
            "customer_id",
            "last_error",
        ]


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProcessingAttempt
        fields = ["number", "trigger", "outcome", "started_at", "finished_at", "error"]


class EventDetailSerializer(EventSerializer):
    body = serializers.SerializerMethodField()
    processing_attempts = AttemptSerializer(many=True)

    class Meta(EventSerializer.Meta):
        fields = [
            *EventSerializer.Meta.fields,
            "headers",
            "body",
            "order_view",
            "processing_attempts",
        ]

    def get_body(self, event) -> str:
        return bytes(event.body).decode("utf-8", "replace")


class TestWebhookInputSerializer(serializers.Serializer):
    endpoint = serializers.SlugField(max_length=100)
    event_type = serializers.CharField(max_length=100, required=False)
    order_value = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, default=5500
    )
    order_id = serializers.CharField(max_length=200, required=False)
    customer_id = serializers.CharField(max_length=200, required=False)


class TestWebhookOutputSerializer(serializers.Serializer):
    status_code = serializers.IntegerField(help_text="the receiver's HTTP status")
    response = serializers.DictField(help_text="the receiver's JSON answer")
    event_type = serializers.CharField()
    event = serializers.CharField(
        allow_null=True, help_text="the hookdesk event id, when the receiver stored the event"
    )
    event_url = serializers.URLField(
        allow_null=True, help_text="the event's page in the admin, when it was stored"
    )


class ReplayInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
