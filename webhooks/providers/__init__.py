"""Provider schemes by name. Adding a provider is adding a module to this package: each module
registers its scheme with `register_scheme`, and every module here is imported below."""

import importlib
import pkgutil

from webhooks.providers.base import (
    Envelope,
    EnvelopeError,
    OrderView,
    ProviderScheme,
    SampleOrder,
    SignatureError,
)
from webhooks.providers.registry import (
    SCHEMES,
    get_scheme,
    provider_choices,
    register_scheme,
    unregister_scheme,
)

_NOT_SCHEMES = {"base", "registry"}

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _NOT_SCHEMES:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "SCHEMES",
    "Envelope",
    "EnvelopeError",
    "OrderView",
    "ProviderScheme",
    "SampleOrder",
    "SignatureError",
    "get_scheme",
    "provider_choices",
    "register_scheme",
    "unregister_scheme",
]
