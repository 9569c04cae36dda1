"""Provider schemes by name. Adding a provider is adding a module and a line here."""

from webhooks.providers.automation import Automation
from webhooks.providers.autranex import Autranex
from webhooks.providers.base import (
    Envelope,
    EnvelopeError,
    OrderView,
    ProviderScheme,
    SignatureError,
)
from webhooks.providers.procureiq import ProcureIQ
from webhooks.providers.standard import Standard

SCHEMES: dict[str, ProviderScheme] = {
    scheme.name: scheme for scheme in (Autranex(), ProcureIQ(), Automation(), Standard())
}


def get_scheme(name: str) -> ProviderScheme:
    return SCHEMES[name]


__all__ = [
    "SCHEMES",
    "Envelope",
    "EnvelopeError",
    "OrderView",
    "ProviderScheme",
    "SignatureError",
    "get_scheme",
]
