"""Failed admin logins, counted in the default cache per username and client address.

After too many failures every further attempt is refused, the right password included, until
the window passes without a failure. Usernames are keyed by digest and passwords never seen."""

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("hookdesk.security")


def _limits() -> dict:
    return settings.HOOKDESK_LOGIN_THROTTLE


def client_address(request) -> str:
    """The client's address: behind the TLS proxy, the one the proxy appended last to
    X-Forwarded-For (earlier entries are whatever the client claimed)."""
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return request.META.get("REMOTE_ADDR") or "unknown"


def _keys(username: str, address: str) -> tuple[str, str]:
    name = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    place = hashlib.sha256(address.encode()).hexdigest()[:32]
    return f"login-failures:user:{name}:{place}", f"login-failures:address:{place}"


def login_locked(*, username: str, address: str) -> bool:
    user_key, address_key = _keys(username, address)
    counts = cache.get_many([user_key, address_key])
    limits = _limits()
    return (
        counts.get(user_key, 0) >= limits["MAX_FAILURES"]
        or counts.get(address_key, 0) >= limits["MAX_FAILURES_PER_ADDRESS"]
    )


def login_failed(*, username: str, address: str) -> None:
    window = _limits()["WINDOW_SECONDS"]
    for key in _keys(username, address):
        # add() then incr(): concurrent failures each count (incr is atomic in every backend).
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, timeout=window)
        cache.touch(key, timeout=window)
    logger.warning("admin login failed for username %r from %s", username[:150], address)


def login_refused(*, username: str, address: str) -> None:
    logger.warning(
        "admin login for username %r from %s refused: too many failed attempts",
        username[:150],
        address,
    )


def login_succeeded(*, username: str, address: str) -> None:
    """A successful login clears its username's count (not the address's: a guesser who also
    has one account must not reset the count for the others it tries)."""
    cache.delete(_keys(username, address)[0])


def login_throttle_forget(*, username: str, address: str) -> None:
    """Clear both counts, for operators (and tests)."""
    cache.delete_many(list(_keys(username, address)))
