"""The registered provider schemes by name. Each scheme module registers its own scheme."""

from webhooks.providers.base import ProviderScheme

SCHEMES: dict[str, ProviderScheme] = {}


def register_scheme(scheme: ProviderScheme) -> ProviderScheme:
    """Make `scheme` known by its name: to the receiver, processing, samples, outbound
    envelopes and the provider choices. Called once by the module that defines the scheme."""
    for attribute in ("name", "label", "default_event_type"):
        if not getattr(scheme, attribute, ""):
            raise ValueError(f"{type(scheme).__name__} has no {attribute}")
    if scheme.name in SCHEMES:
        raise ValueError(f"a provider scheme named {scheme.name!r} is already registered")
    SCHEMES[scheme.name] = scheme
    return scheme


def unregister_scheme(name: str) -> None:
    """Forget a scheme (tests that register their own)."""
    SCHEMES.pop(name, None)


def get_scheme(name: str) -> ProviderScheme:
    return SCHEMES[name]


def provider_choices() -> list[tuple[str, str]]:
    """(name, label) of every registered scheme: the choices of the provider fields."""
    return [(name, scheme.label) for name, scheme in SCHEMES.items()]
