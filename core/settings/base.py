"""Settings shared by every environment; values come from the environment via ``core.env``.

``manage.py``, ``core.asgi`` and ``core.wsgi`` pick ``core.settings.<ENVIRONMENT>`` and read
the matching ``.env.*`` file first, so every ``os.environ`` read below already sees it.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core.env import BASE_DIR, envbool, envchoice, envint, envlist, envstr, load_env_files

ENVIRONMENT = load_env_files()

SECRET_KEY = envstr("SECRET_KEY", "dev-insecure-secret-key-change-me")
DEBUG = envbool("DEBUG", "false")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "monitoring",
    "authentication",
    "api",
]

MIDDLEWARE = [
    # First: a status page's own domain is accepted as a Host before anything validates it (SPEC §21).
    "monitoring.web.domains.PageDomainMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "core.urls"
WSGI_APPLICATION = "core.wsgi.application"
ASGI_APPLICATION = "core.asgi.application"

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
                "monitoring.web.teams.context",
            ],
        },
    },
]

# --- Database: SQLite by default, PostgreSQL (psycopg 3) through DATABASE_URL.
DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
if not DATABASE_URL.startswith(("postgres://", "postgresql://", "sqlite://")):
    raise ImproperlyConfigured(f"DATABASE_URL={DATABASE_URL!r} is not understood: use postgres://… or sqlite:///…")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60))}
# Under daphne (core.asgi sets PULSEGUARD_ASGI) every request runs its synchronous part on a
# thread of its own, and a persistent connection stays behind with each thread: one process
# kept 146 PostgreSQL connections for 300 requests, and a default server (100) then refused
# everyone. So the web process closes each request's connection (CONN_MAX_AGE=0), or, with
# DB_POOL_MAX_SIZE, borrows it from psycopg's pool of at most that many. The scheduler and the
# commands, whose few worker threads live long, keep DB_CONN_MAX_AGE.
UNDER_ASGI = envbool("PULSEGUARD_ASGI", "false")
DB_POOL_MAX_SIZE = envint("DB_POOL_MAX_SIZE", 0, minimum=0)
if UNDER_ASGI:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
if DB_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django requires it with a pool
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 0,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": envint("DB_POOL_TIMEOUT", 10, minimum=1),  # seconds a request waits for a free connection
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A relative sqlite path (sqlite:///db.sqlite3) means the project folder, not the cwd.
    if DATABASES["default"]["NAME"] != ":memory:":
        DATABASES["default"]["NAME"] = str(BASE_DIR / DATABASES["default"]["NAME"])
    # Several threads (check_servers' workers) write; wait for the lock instead of failing.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # WAL lets the web process read while the scheduler writes; NORMAL sync is safe under WAL.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests run on a file too: in-memory shared-cache SQLite locks whole tables and ignores the
    # busy timeout, so the concurrent checks of check_servers could not be tested on it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer: in-memory for one process, Redis to fan out across processes.
CHANNEL_LAYER_TYPE = envchoice("CHANNEL_LAYER_TYPE", ("memory", "redis"), "memory")
REDIS_URL = envstr("REDIS_URL") or f"redis://{envstr('REDIS_HOST', '127.0.0.1')}:{envint('REDIS_PORT', 6379)}/0"
# Messages a channel (one per web process: services.live.fanout) may hold before the layer drops
# new ones silently (and channels_redis' receive buffer the oldest): the default of 100 is a tenth
# of a second of pushes at 1,000 a second, lost whenever a busy process fell that far behind
# (issue 20). Messages still expire after 60 s.
CHANNEL_LAYER_CAPACITY = envint("CHANNEL_LAYER_CAPACITY", 10_000, minimum=100)
if CHANNEL_LAYER_TYPE == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, exactly as long as
                # channels_redis blocks in BZPOPMIN: idle consumers then die with TimeoutError
                # (django/channels_redis#422). Read longer than that pop; connect quickly.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}],
                "prefix": envstr("CHANNEL_LAYER_PREFIX", "pulseguard"),
                "capacity": CHANNEL_LAYER_CAPACITY,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": CHANNEL_LAYER_CAPACITY}}
    }

# Seconds a client has to send a request's line and headers (core.http_limits): a slow
# client past it is answered 408 and disconnected, instead of holding a socket for ever.
HTTP_HEADER_TIMEOUT = envint("HTTP_HEADER_TIMEOUT", 20, minimum=1)

# --- Live feeds (SPEC §5): WebSocket /ws/status/ and SSE /api/events/status/.
# Seconds between ": heartbeat" comments on an idle SSE stream (proxies drop silent ones).
SSE_HEARTBEAT_SECONDS = envint("SSE_HEARTBEAT_SECONDS", 15, minimum=1)
# A client reconnecting with Last-Event-ID gets at most this many missed checks replayed;
# further behind, it gets a fresh snapshot instead of an unbounded query.
SSE_REPLAY_MAX = envint("SSE_REPLAY_MAX", 1000, minimum=1)
# Seconds between re-reads of the users and sessions behind every open live feed: a feed ends
# this long (at most twice this) after a logout, password change, deactivation or loss of
# staff, and connects reuse what was read this recently (authentication.credentials).
LIVE_REVALIDATE_SECONDS = envint("LIVE_REVALIDATE_SECONDS", 2, minimum=1)
# How long a finished check may wait for the channel layer before the publish is given up (logged).
LIVE_PUBLISH_TIMEOUT = envint("LIVE_PUBLISH_TIMEOUT", 2, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The web UI's own scripts, styles and icons (no CDN: the UI works offline).
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# --- Single sign-on with OpenID Connect (SPEC §17, docs/SSO.md): on when the issuer, the client
# id and the client secret are all set. The provider's endpoints are read from
# <OIDC_ISSUER>/.well-known/openid-configuration at the first sign-in (authentication.oidc),
# never at start-up; mozilla-django-oidc does the code flow, its settings derived from these.
OIDC_ISSUER = envstr("OIDC_ISSUER").strip()
OIDC_CLIENT_ID = envstr("OIDC_CLIENT_ID").strip()
OIDC_CLIENT_SECRET = envstr("OIDC_CLIENT_SECRET").strip()
_oidc_missing = [k for k, v in (("OIDC_ISSUER", OIDC_ISSUER), ("OIDC_CLIENT_ID", OIDC_CLIENT_ID),
                                ("OIDC_CLIENT_SECRET", OIDC_CLIENT_SECRET)) if not v]  # fmt: skip
if 0 < len(_oidc_missing) < 3:
    raise ImproperlyConfigured(f"Single sign-on needs OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET: "
                               f"{', '.join(_oidc_missing)} missing.")  # fmt: skip
if OIDC_ISSUER and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", OIDC_ISSUER):
    raise ImproperlyConfigured(f"OIDC_ISSUER={OIDC_ISSUER!r} is not an http(s) URL.")
OIDC_DISPLAY_NAME = envstr("OIDC_DISPLAY_NAME").strip() or "single sign-on"
# Asked of the provider; Dex sends groups only for a `groups` scope, Keycloak and Authentik by mapper.
OIDC_SCOPES = " ".join(envstr("OIDC_SCOPES", "openid email profile").split())
# The claim whose values `team-slug:role` keep the user's team memberships in step (empty: none).
OIDC_TEAMS_CLAIM = envstr("OIDC_TEAMS_CLAIM").strip()
# A first sign-in whose e-mail is an existing user's signs in as that user only with this on
# and the provider saying `email_verified: true`; otherwise it is refused.
OIDC_LINK_BY_EMAIL = envbool("OIDC_LINK_BY_EMAIL", "false")
OIDC_SIGN_ALGO = envchoice("OIDC_SIGN_ALGO", ("rs256", "rs384", "rs512", "es256", "es384", "es512"), "rs256").upper()
# Seconds one call to the provider (discovery, token, keys, userinfo) may take.
OIDC_TIMEOUT = envint("OIDC_TIMEOUT", 10, minimum=1)
# Passwords first; the OpenID Connect backend only answers its own callback (and only when on).
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", "authentication.oidc.OidcBackend"]

# --- REST API: authentication, permissions, filtering and pagination set once here.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: a team API key (pgk_…) is never mistaken for a JWT, and a bad one is 401 at once.
        "authentication.keys.ApiKeyAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
AUTH_THROTTLE_RATE = envstr("AUTH_THROTTLE_RATE", "30/minute")
# Wrong two-factor codes per user (any address) before every code is refused until the window
# ends: 10 an hour leaves someone who has the password ~0.07 % a day of guessing a 6-digit code.
OTP_THROTTLE_RATE = envstr("OTP_THROTTLE_RATE", "10/hour").strip()
if not re.fullmatch(r"[1-9][0-9]*/(s|m|h|d|sec|second|min|minute|hour|day)", OTP_THROTTLE_RATE):
    raise ImproperlyConfigured(f"OTP_THROTTLE_RATE={OTP_THROTTLE_RATE!r} is not a rate like 10/hour.")
# How long the web login waits for the code after a right password (seconds).
LOGIN_CODE_TIMEOUT = envint("LOGIN_CODE_TIMEOUT", 300, minimum=30)
# Proxies whose X-Forwarded-For is believed (addresses or CIDRs, comma-separated); none by
# default, so a client cannot pick the address it is throttled as (authentication.throttle).
TRUSTED_PROXIES = []
for _proxy in envlist("TRUSTED_PROXIES"):
    try:
        TRUSTED_PROXIES.append(ipaddress.ip_network(_proxy, strict=False))
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or network (e.g. 10.0.0.5,192.168.0.0/24)"
        ) from None

# --- Cache: status-page summaries, shared by every process. The database cache (table
# pulseguard_cache, created by a migration) works everywhere; CACHE_TYPE=redis keeps them in
# Redis at REDIS_URL instead; memory is per process (one process only). The throttles do not
# count here: a full cache culls entries (authentication.models.RateCounter).
CACHE_TYPE = envchoice("CACHE_TYPE", ("database", "redis", "memory"), "database")
#: The database cache, as installed. Its table also holds the health check's heartbeat row
#: (api/health.py) whatever CACHE_TYPE says; tests that need the shared table name it here.
DATABASE_CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "pulseguard_cache"}
}
CACHES = {
    "database": DATABASE_CACHES,
    "redis": {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": envstr("CACHE_KEY_PREFIX", "pulseguard"),
        }
    },
    "memory": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
}[CACHE_TYPE]
# Push monitors (SPEC §11): calls of one push URL allowed per period (DRF's "N/second|minute|
# hour|day"), counted in the database per monitor; and the base of the push URLs the API shows when
# there is no request to build them from (e.g. https://pulseguard.example.com).
PUSH_THROTTLE_RATE = envstr("PUSH_THROTTLE_RATE", "60/minute").strip()
if not re.fullmatch(r"[1-9][0-9]*/(s|m|h|d|sec|second|min|minute|hour|day)", PUSH_THROTTLE_RATE):
    raise ImproperlyConfigured(f"PUSH_THROTTLE_RATE={PUSH_THROTTLE_RATE!r} is not a rate like 60/minute.")
# Threads (each with its own database connection) that serve push requests in a web process
# (core.shared_threads).
PUSH_WORKER_THREADS = envint("PUSH_WORKER_THREADS", 8, minimum=1)
# Pushes that may wait for one of those threads; beyond them a push is answered 503 with
# Retry-After at once, and a push that still waited PUSH_MAX_WAIT_SECONDS is answered 503
# unstored (its client is about to give up and retry).
PUSH_QUEUE_MAX = envint("PUSH_QUEUE_MAX", 100, minimum=0)
PUSH_MAX_WAIT_SECONDS = envint("PUSH_MAX_WAIT_SECONDS", 10, minimum=1)
# HTTP requests one web process serves at a time (SSE streams, pushes, health and /metrics
# aside); the next one is answered 503 with Retry-After at once (core.overload).
WEB_MAX_INFLIGHT = envint("WEB_MAX_INFLIGHT", 64, minimum=1)
# The base of every link in e-mails, webhooks and feeds (SPEC §2); PUBLIC_BASE_URL is its old name.
PUBLIC_URL = (envstr("PUBLIC_URL", "") or envstr("PUBLIC_BASE_URL", "")).strip().rstrip("/")
if PUBLIC_URL and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", PUBLIC_URL):
    raise ImproperlyConfigured(f"PUBLIC_URL={PUBLIC_URL!r} is not an http(s) URL.")
PUBLIC_BASE_URL = PUBLIC_URL
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=envint("JWT_ACCESS_MINUTES", 60, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=envint("JWT_REFRESH_DAYS", 7, minimum=1)),
    # A password change ends every token issued before it: tokens carry a fingerprint of the
    # password hash, checked on every authentication, refresh and verify.
    "CHECK_REVOKE_TOKEN": True,
    # Username and password, and the two-factor ``otp`` once the user has enrolled.
    "TOKEN_OBTAIN_SERIALIZER": "authentication.serializers.TokenObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "authentication.serializers.RefreshSerializer",
    "TOKEN_VERIFY_SERIALIZER": "authentication.serializers.VerifySerializer",
}
#: The product's version: the API's, and what every probe names itself (SPEC §20).
PULSEGUARD_VERSION = "1.0.0"
SPECTACULAR_SETTINGS = {
    "TITLE": "PulseGuard API",
    "DESCRIPTION": "Server and website health monitoring.",
    "VERSION": PULSEGUARD_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ServerStatusEnum": "monitoring.choices.Status",
        "PingStatusEnum": "monitoring.choices.PingStatus",
        "PostStatusEnum": "monitoring.choices.PostStatus",
    },
}

# --- Monitoring.
MONITOR_ALLOW_PRIVATE_TARGETS = envbool("MONITOR_ALLOW_PRIVATE_TARGETS", "false")
# What alerts and other outgoing requests name themselves; probes name their location instead
# (``aionet.probe_user_agent``, SPEC §20).
MONITOR_USER_AGENT = envstr("MONITOR_USER_AGENT", f"PulseGuard/{PULSEGUARD_VERSION} (+health monitor)")
MONITOR_MAX_REDIRECTS = envint("MONITOR_MAX_REDIRECTS", 10, minimum=0)
MONITOR_MAX_BODY_BYTES = envint("MONITOR_MAX_BODY_BYTES", 1_048_576, minimum=1024)
# Checks in flight per scheduler process (asyncio: a slot is a socket, not a thread).
CHECK_CONCURRENCY = envint("CHECK_CONCURRENCY", 100, minimum=1)
# Check-nows one user may have running at once (POST /api/servers/{id}/check/; 429 beyond).
CHECK_NOW_PER_USER = envint("CHECK_NOW_PER_USER", 4, minimum=1)
# How long a claimed check is held by its scheduler before another may take it (SPEC §9: ≤ 30 s);
# a running scheduler renews the leases of its checks in flight every third of it.
# Probe locations (SPEC §20): the scheduler's own location; how many results an agent keeps
# while the central server is unreachable; how long a silent location stays online.
PROBE_LOCATION = envstr("PROBE_LOCATION", "local")
AGENT_BUFFER = envint("AGENT_BUFFER", 10_000, minimum=1)
# At least 15: an agent's calls are noted at most every 5 s, and the offline step runs every 5 s.
AGENT_STALE_SECONDS = envint("AGENT_STALE_SECONDS", 60, minimum=15)
# Hours an agent result's idempotency key is kept (a resent batch is stored once within them).
AGENT_RECEIPT_HOURS = envint("AGENT_RECEIPT_HOURS", 24, minimum=1)
CHECK_LEASE_SECONDS = min(envint("CHECK_LEASE_SECONDS", 30, minimum=3), 30)
# History (SPEC §9): raw PingResults are kept this many days (0 = for ever), hourly rollups
# this many (0 = for ever); the scheduler prunes once a day, `manage.py prune_results` on demand.
RAW_RESULT_RETENTION_DAYS = envint("RAW_RESULT_RETENTION_DAYS", 30, minimum=0)
ROLLUP_RETENTION_DAYS = envint("ROLLUP_RETENTION_DAYS", 0, minimum=0)
# Teams (SPEC §17): audit rows are pruned with the results after this many days (0 = for ever);
# an invitation link is valid this many days; a password-reset link this many seconds.
AUDIT_RETENTION_DAYS = envint("AUDIT_RETENTION_DAYS", 365, minimum=0)
INVITATION_VALID_DAYS = envint("INVITATION_VALID_DAYS", 7, minimum=1)
PASSWORD_RESET_TIMEOUT = envint("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600, minimum=60)
# TLS certificate checks (SPEC §6): how often each https server's certificate is looked at,
# how many days before expiry it needs renewal, and an optional CA bundle (a PEM file) that
# replaces the system trust store for deciding `valid` (a private CA; tests use their own).
CERT_CHECK_INTERVAL_HOURS = envint("CERT_CHECK_INTERVAL_HOURS", 12, minimum=1)
CERT_RENEWAL_DAYS = envint("CERT_RENEWAL_DAYS", 14, minimum=0)
CERT_CA_BUNDLE = envstr("CERT_CA_BUNDLE", "")
# Seconds GET /api/check-ssl/ waits for a handshake.
CHECK_SSL_TIMEOUT = envint("CHECK_SSL_TIMEOUT", 10, minimum=1)

# GET /metrics (SPEC §14): with a token, scrapers send `Authorization: Bearer <token>`;
# without one, only loopback clients are answered.
METRICS_TOKEN = envstr("METRICS_TOKEN", "").strip()
# Public status pages and badges (SPEC §15) are served from the cache, so a burst of anonymous
# visitors does not reach the database per request: rebuilt at once after a change of what
# they show, and at least this often for figures that move with time (uptime, response times).
STATUS_PAGE_CACHE_SECONDS = envint("STATUS_PAGE_CACHE_SECONDS", 10, minimum=1)

# --- Per-account quotas for an install with open registration (0 = unlimited; staff are
# never limited), and the bound of an import document: its nodes after YAML alias expansion
# (a 600-byte alias bomb expands to a billion) and the items of each of its lists.
MAX_SERVERS_PER_ACCOUNT = envint("MAX_SERVERS_PER_ACCOUNT", 10_000, minimum=0)
MAX_NOTIFICATION_CONFIGS_PER_ACCOUNT = envint("MAX_NOTIFICATION_CONFIGS_PER_ACCOUNT", 20_000, minimum=0)
MAX_IMPORT_ITEMS = envint("MAX_IMPORT_ITEMS", 10_000, minimum=0)
CONFIG_IMPORT_MAX_NODES = envint("CONFIG_IMPORT_MAX_NODES", 100_000, minimum=1)

# --- Logging: console and logs/pulseguard.log rotated at 10 MB, one key=value line per event.
LOG_LEVEL = envchoice("LOG_LEVEL", ("debug", "info", "warning", "error", "critical"), "info").upper()
LOG_DIR = BASE_DIR / "logs"
LOG_DIR.mkdir(exist_ok=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "file": {
            # Several processes (web, schedulers) share the file: rotation under one lock (core.logfiles).
            "class": "core.logfiles.SharedRotatingFileHandler",
            "filename": str(LOG_DIR / "pulseguard.log"),
            "maxBytes": 10 * 1024 * 1024,
            "backupCount": 5,
            "formatter": "plain",
        },
    },
    "root": {"handlers": ["console", "file"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL},
        "apscheduler": {"level": "WARNING"},
    },
}
NOTIFICATION_COOLDOWN_MINUTES = envint("NOTIFICATION_COOLDOWN_MINUTES", 15, minimum=0)

# --- Notifications (SPEC §7): the delivery queue, e-mail and the SMS gateway.
# Attempts per alert before it is marked failed; retries back off from 10 s, doubling, to 10 min.
NOTIFICATION_MAX_ATTEMPTS = envint("NOTIFICATION_MAX_ATTEMPTS", 8, minimum=1)
# Seconds one webhook/chat/SMS request may take.
NOTIFICATION_TIMEOUT = envint("NOTIFICATION_TIMEOUT", 10, minimum=1)
# How often start_scheduler's sender looks for due alerts.
NOTIFICATION_SEND_INTERVAL = envint("NOTIFICATION_SEND_INTERVAL", 5, minimum=1)
# Alerts in flight at once per sender, and at most so many to one receiver host or of one
# owner: a receiver that hangs delays only its own alerts (SPEC §23).
NOTIFICATION_CONCURRENCY = envint("NOTIFICATION_CONCURRENCY", 20, minimum=1)
NOTIFICATION_CONCURRENCY_PER_HOST = envint("NOTIFICATION_CONCURRENCY_PER_HOST", 5, minimum=1)
NOTIFICATION_CONCURRENCY_PER_OWNER = envint("NOTIFICATION_CONCURRENCY_PER_OWNER", 5, minimum=1)
# Status page subscribers (SPEC §21) have a lane of their own: so many sending threads (each one
# SMTP session at a time) beside the alerts', so a page with 10,000 subscribers never holds a
# team's alerts; and sign-ups per client address (DRF's rate syntax).
SUBSCRIBER_CONCURRENCY = envint("SUBSCRIBER_CONCURRENCY", 2, minimum=1)
SUBSCRIBE_THROTTLE_RATE = envstr("SUBSCRIBE_THROTTLE_RATE", "10/hour").strip()
if not re.fullmatch(r"[1-9][0-9]*/(s|m|h|d|sec|second|min|minute|hour|day)", SUBSCRIBE_THROTTLE_RATE):
    raise ImproperlyConfigured(f"SUBSCRIBE_THROTTLE_RATE={SUBSCRIBE_THROTTLE_RATE!r} is not a rate like 10/hour.")
# Flood control (SPEC §18): when more than ALERT_GROUP_THRESHOLD servers of one team go DOWN
# within ALERT_GROUP_WINDOW_SECONDS, each destination gets one grouped alert (and one grouped
# recovery). DOWN alerts of teams with more servers than the threshold wait
# ALERT_GROUP_HOLD_SECONDS so that a flood is grouped from its first server.
ALERT_GROUP_THRESHOLD = envint("ALERT_GROUP_THRESHOLD", 10, minimum=1)
ALERT_GROUP_WINDOW_SECONDS = envint("ALERT_GROUP_WINDOW_SECONDS", 60, minimum=1)
ALERT_GROUP_HOLD_SECONDS = envint("ALERT_GROUP_HOLD_SECONDS", 5, minimum=0)
EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = envstr("EMAIL_HOST") or "localhost"
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "false")
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", "false")
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "PulseGuard <pulseguard@localhost>")
# A Twilio-compatible API: POST {SMS_GATEWAY_URL}/2010-04-01/Accounts/{SID}/Messages.json.
SMS_GATEWAY_URL = envstr("SMS_GATEWAY_URL", "https://api.twilio.com").rstrip("/")
SMS_ACCOUNT_SID = envstr("SMS_ACCOUNT_SID")
SMS_AUTH_TOKEN = envstr("SMS_AUTH_TOKEN")
SMS_FROM_NUMBER = envstr("SMS_FROM_NUMBER")
