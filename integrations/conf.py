"""The integrations app's settings: HOOKDESK_INTEGRATIONS over these defaults."""

from typing import Any

from django.conf import settings

# AUTRANEX's retry table: 1, 2, 4, 8, 16, 32, 64, 128 minutes.
AUTRANEX_RETRY_SCHEDULE = [60, 120, 240, 480, 960, 1920, 3840, 7680]

DEFAULTS: dict[str, Any] = {
    "RETRY_SCHEDULE_SECONDS": AUTRANEX_RETRY_SCHEDULE,
    # Each retry is delayed by up to this fraction more, so receivers that failed together
    # are not hit again in lockstep.
    "RETRY_JITTER": 0.1,
    # A 429's Retry-After is honoured up to this many seconds.
    "RETRY_AFTER_MAX_SECONDS": 3600,
    "DEFAULT_CONNECTION_TIMEOUT": "PT30S",
    # A send holds a worker for up to about twice the connection timeout (connect, then read):
    # longer timeouts would let one slow receiver starve the others.
    "MAX_CONNECTION_TIMEOUT_SECONDS": 60,
    "RESPONSE_SNIPPET_BYTES": 1024,
    # A due delivery queued this long ago and still unsent is queued again by the watchdog.
    "REQUEUE_AFTER_SECONDS": 60,
    # After a timeout or connection failure the destination's other deliveries wait this long,
    # or its first retry delay if shorter (and then go one at a time until one succeeds),
    # instead of tying up every worker.
    "CIRCUIT_PAUSE_SECONDS": 60,
    "WATCHDOG_BATCH": 500,
    # A destination's drain claims up to this many due deliveries at once and sends them from
    # up to this many threads of its own (integrations/drain.py).
    "DRAIN_BATCH": 50,
    "SEND_CONCURRENCY": 50,
    "USER_AGENT": "hookdesk-outbound/1",
}


# CIDRs destinations may reach although they are not public (integrations.url_guard), unless
# DESTINATION_ALLOWED_NETWORKS says otherwise: this machine in development, for local
# listeners; nothing in production, or wherever the environment is unknown.
DEVELOPMENT_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]


def conf() -> dict[str, Any]:
    values = {**DEFAULTS, **getattr(settings, "HOOKDESK_INTEGRATIONS", {})}
    if "DESTINATION_ALLOWED_NETWORKS" not in values:
        production = getattr(settings, "PRODUCTION", True)
        values["DESTINATION_ALLOWED_NETWORKS"] = [] if production else DEVELOPMENT_ALLOWED_NETWORKS
    return values
