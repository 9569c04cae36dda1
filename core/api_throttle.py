"""Request rates of the REST API: per API token for authenticated requests, per client address
for anonymous ones, so one busy or fuzzing client cannot take the console's web workers.

The rates are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] ("user", "anon"), read on every request:
DRF's own classes read them once, at import. The webhook receiver is a plain Django view and is
never throttled here."""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from core.throttle import client_address


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class TokenRateThrottle(_SettingsRateThrottle):
    """Authenticated requests, counted per user: a user holds one API token (core.tokens), and
    a console session browsing the API shares its user's budget."""

    scope = "user"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AddressRateThrottle(_SettingsRateThrottle):
    """Anonymous requests, counted per client address as the login throttle takes it (behind
    the TLS proxy, the address the proxy appended; never one the client claims)."""

    scope = "anon"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}
