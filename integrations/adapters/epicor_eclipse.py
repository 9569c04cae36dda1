"""Epicor Eclipse: hookdesk statuses mapped to Eclipse order statuses (held → `suspend`, as the
AUTRANEX partner notes say), sent as `data.eclipse_status` for the Eclipse-side listener's
`updateOrderStatus(order_id, eclipse_status)`."""

from integrations.adapters.base import Adapter, OutboundEvent


class EpicorEclipse(Adapter):
    name = "epicor_eclipse"
    label = "Epicor Eclipse"
    uses_status_mapping = True
    default_status_mapping = {"held": "suspend", "released": "open", "rejected": "cancel"}

    def extra_data(self, *, event: OutboundEvent, status_mapping: dict[str, str]) -> dict:
        status = event.notice["status"]
        return {"eclipse_status": status_mapping.get(status, status)}
