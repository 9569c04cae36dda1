"""Adapters by name. Adding an ERP is adding a module beside these and a line here."""

from integrations.adapters.base import Adapter, OutboundEvent, OutboundRequest
from integrations.adapters.custom_erp import CustomErp
from integrations.adapters.epicor_eclipse import EpicorEclipse
from integrations.adapters.partstech import PartsTech
from integrations.adapters.webhook import Webhook

ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter for adapter in (Webhook(), EpicorEclipse(), PartsTech(), CustomErp())
}


def get_adapter(name: str) -> Adapter:
    return ADAPTERS[name]


__all__ = ["ADAPTERS", "Adapter", "OutboundEvent", "OutboundRequest", "get_adapter"]
