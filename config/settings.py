"""hookdesk settings: everything configurable comes from the environment, with safe defaults."""

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_rate, env_str, env_time_zone

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("HOOKDESK_VAR_DIR", str(BASE_DIR / "var")))


def _local_secret_key() -> str:
    """A per-installation key kept in var/, so a fresh checkout runs without configuration
    and sessions and derived encryption keys survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


# HOOKDESK_ENV=production: HTTPS only (redirect, HSTS, secure cookies) and no fallbacks for the
# secret key, the host names or the encryption keys. Development, the default, serves plain HTTP
# on loopback with generated keys. See docs/security.md.
HOOKDESK_ENV = env_str("HOOKDESK_ENV", "development")
if HOOKDESK_ENV not in ("development", "production"):
    raise ImproperlyConfigured(
        f"HOOKDESK_ENV must be development or production, got {HOOKDESK_ENV!r}"
    )
PRODUCTION = HOOKDESK_ENV == "production"


def _required_in_production(name: str) -> None:
    if PRODUCTION and not env_str(name).strip():
        raise ImproperlyConfigured(f"{name} must be set when HOOKDESK_ENV=production")


_required_in_production("SECRET_KEY")
_required_in_production("ALLOWED_HOSTS")
_required_in_production("HOOKDESK_ENCRYPTION_KEYS")
SECRET_KEY = env_str("SECRET_KEY") or _local_secret_key()
DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when HOOKDESK_ENV=production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The stock admin with a login that refuses guessing (core.admin_site).
    "core.apps.HookdeskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_q",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # The project's apps, lowest layer first; each imports only those above it in this list.
    "core.apps.CoreConfig",
    "webhooks",
    "rules",
    "integrations",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.refuse_nul_in_query",
    # WhiteNoise: a hashed static file is cached for a year (core.static_files).
    "core.static_files.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.user_time_zone",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# PostgreSQL in production (DATABASE_URL); SQLite in var/ for a machine with nothing set up.
_sqlite_path = VAR_DIR / "hookdesk.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{_sqlite_path}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The web server and the worker cluster write concurrently: WAL and IMMEDIATE
    # transactions turn lock contention into short waits instead of "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Times are stored in UTC and shown in this zone, or in the zone a user picked (Preferences).
TIME_ZONE = env_time_zone("HOOKDESK_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# One time format everywhere: "2026-12-02 14:05:09 CET" (core/formats).
FORMAT_MODULE_PATH = ["core.formats"]

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start without it
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed names after `collectstatic`; plain names before (core.static_files).
    "staticfiles": {"BACKEND": "core.static_files.StaticFilesStorage"},
}
# Files collectstatic has not seen (or before it ever ran) are served from the apps.
WHITENOISE_USE_FINDERS = True

# --- Security -------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("HOOKDESK_BEHIND_TLS_PROXY", False) else None
)
if PRODUCTION:
    # Everything over HTTPS; load balancers probe /healthz and /metrics over plain HTTP.
    SECURE_SSL_REDIRECT = env_bool("HOOKDESK_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("HOOKDESK_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HOOKDESK_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("HOOKDESK_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
else:
    SESSION_COOKIE_SECURE = env_bool(
        "SESSION_COOKIE_SECURE", not DEBUG and bool(SECURE_PROXY_SSL_HEADER)
    )
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# An admin session lasts a working day, not Django's default two weeks.
SESSION_COOKIE_AGE = env_int("HOOKDESK_SESSION_SECONDS", 12 * 3600)

# The default cache holds the counters of the admin login throttle and of the API's rates:
# shared by every web process through Redis when there is one, per process otherwise.
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env_str("REDIS_URL"),
            "KEY_PREFIX": "hookdesk",
        }
        if env_str("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Failed admin logins: after MAX_FAILURES for one username from one address (or
# MAX_FAILURES_PER_ADDRESS from one address, whatever the usernames) within WINDOW_SECONDS,
# every attempt is refused until WINDOW_SECONDS pass without a failure.
HOOKDESK_LOGIN_THROTTLE = {
    "MAX_FAILURES": env_int("HOOKDESK_LOGIN_MAX_FAILURES", 5),
    "MAX_FAILURES_PER_ADDRESS": env_int("HOOKDESK_LOGIN_MAX_FAILURES_PER_ADDRESS", 50),
    "WINDOW_SECONDS": env_int("HOOKDESK_LOGIN_WINDOW_SECONDS", 15 * 60),
}

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Tokens are stored as digests only (core.tokens).
        "core.tokens.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "core.api.ApiSchema",
    "EXCEPTION_HANDLER": "core.api.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per API token (authenticated) and per client address (anonymous), counted in the default
    # cache: shared by every web process through Redis when there is one, per process otherwise.
    # Past the rate: 429 {"error": ...} with Retry-After. The webhook receiver throttles nothing.
    "DEFAULT_THROTTLE_CLASSES": [
        "core.api_throttle.TokenRateThrottle",
        "core.api_throttle.AddressRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_rate("HOOKDESK_API_RATE_USER", "1200/min"),
        "anon": env_rate("HOOKDESK_API_RATE_ANON", "120/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "hookdesk API",
    "DESCRIPTION": "Orders, holds, blocks, events and destinations of the hookdesk console.",
    "VERSION": "2.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed sidecar package: the console works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "EventStatusEnum": "webhooks.models.EventStatus",
        "OutboundDeliveryStatusEnum": "integrations.models.DeliveryStatus",
        "BacktestStatusEnum": "rules.models.BacktestStatus",
        # A block's action keeps the name it had before audit entries joined the API.
        "ActionEnum": "rules.models.BlockAction",
        "AuditActionEnum": "core.audit_actions.audit_action_choices",
    },
}

# --- Background processing (django-q2) ------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
Q_CLUSTER = {
    "name": env_str("HOOKDESK_QUEUE_NAME", "hookdesk"),
    "workers": env_int("HOOKDESK_WORKERS", 2),
    # One event is processed in well under a second; a task still running after `timeout`
    # is killed and the sweep picks its event up again.
    "timeout": 60,
    # The ORM broker re-delivers a task after `retry` seconds: it must exceed `timeout`
    # plus queueing time, or tasks run twice.
    "retry": 180,
    # Retries are ours (the event's own attempts and backoff), not the broker's.
    "max_attempts": 1,
    # Successful results live in our own tables; saving them in django-q2 costs ~3x throughput.
    "save_limit": -1,
    "ack_failures": True,
    "queue_limit": 100,
    "bulk": 10,
    "poll": 0.2,
    "catch_up": False,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- hookdesk -------------------------------------------------------------------------------
_PUBLIC_BASE_URL = env_str("HOOKDESK_PUBLIC_BASE_URL").strip()
HOOKDESK = {
    # Fernet keys (urlsafe base64, 32 bytes), comma-separated, newest first. Older keys still
    # decrypt, so keys can be rotated. Without them a key is derived from SECRET_KEY.
    "ENCRYPTION_KEYS": env_list("HOOKDESK_ENCRYPTION_KEYS", []),
    "MAX_BODY_BYTES": env_int("HOOKDESK_MAX_BODY_BYTES", 1024 * 1024),
    "TIMESTAMP_TOLERANCE_SECONDS": env_int("HOOKDESK_TIMESTAMP_TOLERANCE", 300),
    # Old secrets that may stay valid at once after rotations; older ones expire at rotation.
    "MAX_LIVE_OLD_SECRETS": env_int("HOOKDESK_MAX_LIVE_OLD_SECRETS", 2),
    # Delay before each retry of a failed processing attempt; then the event is dead.
    "PROCESSING_BACKOFF_SECONDS": [
        float(delay) for delay in env_list("HOOKDESK_PROCESSING_BACKOFF", ["30", "120", "600"])
    ],
    # How often each cluster worker's clock queues the retries that fell due (core.clock).
    "CLOCK_SECONDS": 0.5,
    # A pending event not claimed this long after receipt is re-enqueued by the sweep.
    "SWEEP_PENDING_AFTER_SECONDS": env_int("HOOKDESK_SWEEP_PENDING_AFTER", 60),
    # A claim older than this is taken to belong to a dead worker.
    "STALE_CLAIM_SECONDS": env_int("HOOKDESK_STALE_CLAIM_SECONDS", 300),
    "SWEEP_BATCH": 500,
    # A processing task takes up to this many pending events of its endpoint in one run.
    "PROCESSING_BATCH": env_int("HOOKDESK_PROCESSING_BATCH", 50),
    # Dotted paths of functions called with (event=, order_view=) for every processed event,
    # inside the processing transaction. Hold evaluation and downstream notifications plug in here.
    "EVENT_CONSUMERS": ["rules.services.event_evaluate"],
    # The console's public address. Unset, pages the console serves show their own request's
    # address, and what runs without a request (alert mails, send_test_webhook) uses the default.
    "PUBLIC_BASE_URL": _PUBLIC_BASE_URL or "http://127.0.0.1:8000",
    "PUBLIC_BASE_URL_CONFIGURED": bool(_PUBLIC_BASE_URL),
    # POST /api/v2/blocks/<id>/backtest/ works its run for up to this long and answers the
    # result (200); a run still going then is left to the cluster and answered 202. Keep it
    # well below the web server's timeout.
    "BACKTEST_WAIT_SECONDS": env_int("HOOKDESK_BACKTEST_WAIT_SECONDS", 5),
    # A bulk decision decides in the request for this long, then hands the rest to the cluster.
    "BULK_DECISION_WAIT_SECONDS": env_int("HOOKDESK_BULK_DECISION_WAIT_SECONDS", 5),
}

DATA_UPLOAD_MAX_MEMORY_SIZE = HOOKDESK["MAX_BODY_BYTES"] + 1

# --- E-mail (the console's alerts) --------------------------------------------------------------
# Without EMAIL_HOST, mail is written to the console log instead of going nowhere.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "hookdesk <hookdesk@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs full request URLs at INFO, and a receiver URL may carry an installation key.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# --- Downstream destinations (integrations) -------------------------------------------------
HOOKDESK_INTEGRATIONS = {
    # Seconds before each retry of a failed outbound delivery (AUTRANEX: 1, 2, 4 … 128 min);
    # a destination may carry its own. After the last one the delivery is a dead letter.
    "RETRY_SCHEDULE_SECONDS": [60, 120, 240, 480, 960, 1920, 3840, 7680],
    # A 429's Retry-After is honoured up to this many seconds.
    "RETRY_AFTER_MAX_SECONDS": env_int("HOOKDESK_OUTBOUND_RETRY_AFTER_MAX", 3600),
    # After a timeout or refused connection a destination's other deliveries wait this long.
    "CIRCUIT_PAUSE_SECONDS": env_int("HOOKDESK_OUTBOUND_CIRCUIT_PAUSE", 60),
    "MAX_CONNECTION_TIMEOUT_SECONDS": env_int("HOOKDESK_OUTBOUND_MAX_TIMEOUT", 60),
    # Networks a destination may reach although they are not public (the URL guard refuses
    # loopback, private, link-local, multicast and unspecified addresses otherwise, at save
    # and at connect time). Development allows this machine, for local listeners.
    "DESTINATION_ALLOWED_NETWORKS": env_list(
        "HOOKDESK_DESTINATION_ALLOWED_NETWORKS", [] if PRODUCTION else ["127.0.0.0/8", "::1/128"]
    ),
}
