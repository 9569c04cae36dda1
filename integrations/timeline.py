"""What an order's timeline shows of its outbound deliveries (registered in apps.ready)."""

from integrations.models import OutboundDelivery
from rules.timeline import Entry, timeline_url

MAX_ITEMS = 200


def order_downstream_entries(order_id: str) -> list[Entry]:
    entries = []
    rows = OutboundDelivery.objects.filter(order_id=order_id).select_related("destination")
    for delivery in rows.order_by("created_at")[:MAX_ITEMS]:
        code = delivery.last_status_code
        entries.append(
            Entry(
                delivery.created_at,
                "downstream",
                f"{delivery.event_type} to {delivery.destination}: {delivery.status}"
                + (f", {delivery.attempts} attempt(s)" if delivery.attempts else "")
                + (f", last response {code}" if code else ""),
                timeline_url("admin:integrations_outbounddelivery_change", delivery.pk),
            )
        )
    return entries
