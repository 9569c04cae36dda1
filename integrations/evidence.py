"""What a hold's evidence package shows of its outbound deliveries: what was sent downstream,
and each attempt with the receiver's answer (registered in apps.ready)."""

from typing import Any

from integrations.models import OutboundDelivery
from rules.models import HeldOrder


def hold_outbound_evidence(hold: HeldOrder) -> list[dict[str, Any]]:
    deliveries = (
        OutboundDelivery.objects.filter(hold=hold)
        .select_related("destination")
        .prefetch_related("log")
        .order_by("created_at", "id")
    )
    return [
        {
            "id": delivery.pk,
            "destination": {
                "id": delivery.destination_id,
                "name": delivery.destination.name,
                "adapter": delivery.destination.adapter,
            },
            "event_type": delivery.event_type,
            "event_id": delivery.event_id,
            "notice": delivery.notice,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
            "created_at": delivery.created_at,
            "succeeded_at": delivery.succeeded_at,
            "dead_at": delivery.dead_at,
            "answers": [
                {
                    "number": attempt.number,
                    "started_at": attempt.started_at,
                    "duration_ms": attempt.duration_ms,
                    "result": attempt.result,
                    "status_code": attempt.status_code,
                    "retry_count_header": attempt.retry_count_header,
                    "error": attempt.error,
                    "response_snippet": attempt.response_snippet,
                }
                for attempt in delivery.log.all()
            ],
        }
        for delivery in deliveries
    ]
