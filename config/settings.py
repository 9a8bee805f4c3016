"""Flowdesk settings: one module, everything that differs between machines comes from the environment."""

import secrets
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_database, env_database_replicas, env_int, env_list, env_rate, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def _secret_key():
    key = env_str("SECRET_KEY")
    if key is not None:
        # What Django's own deploy check (security.W009) asks of a key.
        if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-"):
            raise ImproperlyConfigured(
                "SECRET_KEY must be at least 50 characters long with at least 5 distinct characters "
                "(and not Django's 'django-insecure-' placeholder)"
            )
        return key
    # Embedded default: a random key kept beside the SQLite file, so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'flowdesk.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    VAR_DIR.mkdir(exist_ok=True)
# PostgreSQL plans a statement once per connection and reuses the plan from its fifth run on
# (psycopg's prepared statements, which need server-side binding): planning the key's query took
# five times as long as running it (bench/FINDINGS.md). Off for a pooler that cannot keep prepared
# statements (PgBouncer in transaction mode before 1.21). A URL's own options win.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_PREPARED_STATEMENTS", True):
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("server_side_binding", True)
    _options.setdefault("prepare_threshold", 5)

# Streaming replicas of the primary (comma-separated postgres:// URLs): reads that may be stale go
# there (flowdesk/db/routers.py); writes, locks and transactions stay on the primary.
FLOWDESK_REPLICA_CONNECT_TIMEOUT = env_int("FLOWDESK_REPLICA_CONNECT_TIMEOUT", 2, minimum=1, maximum=60)
for _index, _replica in enumerate(
    env_database_replicas("DATABASE_REPLICA_URLS", DATABASES["default"], FLOWDESK_REPLICA_CONNECT_TIMEOUT)
):
    DATABASES[f"replica_{_index}"] = _replica
FLOWDESK_DATABASE_REPLICAS = [alias for alias in DATABASES if alias.startswith("replica_")]
DATABASE_ROUTERS = ["flowdesk.db.routers.ReplicaRouter"] if FLOWDESK_DATABASE_REPLICAS else []
# After a key writes, its reads stay on the primary this long (read-your-writes across replica lag).
FLOWDESK_REPLICA_STICKY_SECONDS = env_int("FLOWDESK_REPLICA_STICKY_SECONDS", 5, minimum=1, maximum=3600)
# A replica that refused a connection (or timed out) is not tried again for this long, per process.
FLOWDESK_REPLICA_RETRY_SECONDS = env_int("FLOWDESK_REPLICA_RETRY_SECONDS", 10, minimum=1, maximum=3600)

# One switch behind a TLS-terminating proxy: secure cookies, HSTS, redirects to https.
FLOWDESK_HTTPS = env_bool("FLOWDESK_HTTPS", False)
if FLOWDESK_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    # The proxy says which scheme the client used; without it every request would look like http.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("FLOWDESK_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("FLOWDESK_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("FLOWDESK_HSTS_PRELOAD", True)

# Origins whose pages may open the tutor sessions' Socket.IO ("*": any; the key is what guards it).
FLOWDESK_SOCKET_ALLOWED_ORIGINS = env_list("FLOWDESK_SOCKET_ALLOWED_ORIGINS", ["*"])
if FLOWDESK_SOCKET_ALLOWED_ORIGINS == ["*"]:
    FLOWDESK_SOCKET_ALLOWED_ORIGINS = "*"

# An event stream (SSE) sends a comment this often when nothing changed, so proxies keep it open.
FLOWDESK_SSE_HEARTBEAT_SECONDS = env_int("FLOWDESK_SSE_HEARTBEAT_SECONDS", 15, minimum=1, maximum=300)

INSTALLED_APPS = [
    "flowdesk",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "accounts",
    "flows",
    "sessions_app",
    "chat",
    "messaging",
    "webhooks",
    "audit",
    "retention",
]

MIDDLEWARE = [
    "flowdesk.api.middleware.RequestIdMiddleware",
    "flowdesk.db.middleware.ReplicaMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "flowdesk.api.middleware.ApiErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
# API paths answer with and without a trailing slash themselves; no redirects.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# The admin's (and later the API docs') assets are served straight from the apps: no collectstatic step.
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Request bodies over this size are refused with 413 in the family's error body.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("FLOWDESK_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)
# Query strings are refused (400) past these sizes: no parameter of any family needs more.
FLOWDESK_MAX_QUERY_BYTES = env_int("FLOWDESK_MAX_QUERY_BYTES", 8192, minimum=256)
FLOWDESK_MAX_QUERY_VALUE = env_int("FLOWDESK_MAX_QUERY_VALUE", 1024, minimum=64)
# Longer request headers (name and value), or more of them, are refused (431) in the family's body;
# config/gunicorn.py lets them through to Flowdesk so that the refusal is Flowdesk's own.
FLOWDESK_MAX_HEADER_BYTES = env_int("FLOWDESK_MAX_HEADER_BYTES", 8192, minimum=1024, maximum=1024 * 1024)
FLOWDESK_MAX_HEADERS = env_int("FLOWDESK_MAX_HEADERS", 100, minimum=20, maximum=1000)

# Requests per API key and family; message flows default to the vendor's documented 60 a minute.
FLOWDESK_RATE_LIMITS = {
    "live_flows": env_rate("RATE_LIMIT_LIVE_FLOWS", "600/minute"),
    "user_sessions": env_rate("RATE_LIMIT_USER_SESSIONS", "600/minute"),
    "workflow_chat": env_rate("RATE_LIMIT_WORKFLOW_CHAT", "600/minute"),
    "message_flows": env_rate("RATE_LIMIT_MESSAGE_FLOWS", "60/minute"),
}

# Rate-limit counters live in the cache: Redis (shared by every process) when REDIS_URL is set.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"REDIS_URL must be a redis:// URL; got {REDIS_URL!r}")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "flowdesk"}}

# Login lock-out (django-axes): after FLOWDESK_LOGIN_FAILURE_LIMIT wrong passwords for a username, or
# from one client address, logins for either are refused for FLOWDESK_LOGIN_LOCKOUT_MINUTES. Every
# process shares the count: in Redis when REDIS_URL is set, else in the database (axes' own tables,
# shown in the admin, where deleting an attempt lifts its lock).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler" if REDIS_URL else "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("FLOWDESK_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("FLOWDESK_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/login_locked.html"
AXES_ENABLE_ADMIN = not REDIS_URL
# Behind N proxies that append to X-Forwarded-For, the client is the Nth address from the right.
FLOWDESK_PROXY_COUNT = env_int("FLOWDESK_PROXY_COUNT", 0, minimum=0, maximum=10)
AXES_CLIENT_IP_CALLABLE = "flowdesk.admin.login_lockout.client_ip"


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["flowdesk.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["flowdesk.api.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["flowdesk.api.parsers.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "flowdesk.api.parsers.ContentNegotiation",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "flowdesk.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "flowdesk.api.schema.FlowdeskAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

# --- Live flow engine (flows/engine.py): where sessions run and which model answers LLM steps ---

# A Celery broker (e.g. redis://127.0.0.1:6379/0) makes sessions run in `celery -A config worker`
# processes; without one (the embedded default) they run in a thread of the web process.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or None


def _choice(name, default, choices):
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


# celery: a worker runs each step; thread: in-process after the response; eager: inline when the
# transaction commits (tests).
LIVE_FLOW_RUNNER = _choice(
    "FLOWDESK_LIVE_FLOW_RUNNER", "celery" if CELERY_BROKER_URL else "thread", ("celery", "thread", "eager")
)
if LIVE_FLOW_RUNNER == "celery" and not CELERY_BROKER_URL:
    raise ImproperlyConfigured("FLOWDESK_LIVE_FLOW_RUNNER=celery needs CELERY_BROKER_URL")
# offline: a deterministic model (demo, tests); openai: any OpenAI-compatible chat-completions API;
# or the dotted path of a class with `complete(messages, *, labels, options)`.
LIVE_FLOW_LLM_BACKEND = env_str("FLOWDESK_LLM_BACKEND", "offline")
LIVE_FLOW_LLM_BASE_URL = env_str("FLOWDESK_LLM_BASE_URL", "https://api.openai.com/v1")
LIVE_FLOW_LLM_API_KEY = env_str("FLOWDESK_LLM_API_KEY") or None
LIVE_FLOW_LLM_MODEL = env_str("FLOWDESK_LLM_MODEL", "gpt-4o-mini")
LIVE_FLOW_LLM_TIMEOUT = env_int("FLOWDESK_LLM_TIMEOUT", 60, minimum=1, maximum=3600)  # seconds, per request
LIVE_FLOW_LLM_RETRIES = env_int("FLOWDESK_LLM_RETRIES", 2, minimum=0, maximum=10)  # after the first try
# How long a worker holds a running step. Longer than the model's worst case (every try timing out,
# plus back-off): a step still RUNNING after it was left by a worker that died.
LIVE_FLOW_STEP_LEASE = env_int(
    "FLOWDESK_STEP_LEASE_SECONDS",
    LIVE_FLOW_LLM_TIMEOUT * (LIVE_FLOW_LLM_RETRIES + 1) + 2 ** LIVE_FLOW_LLM_RETRIES + 30,
    minimum=1,
)
# A flow whose transitions loop fails after this many recorded steps instead of running for ever.
LIVE_FLOW_MAX_STEPS = env_int("FLOWDESK_SESSION_MAX_STEPS", 500, minimum=1)

CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # the database holds the outcome; no result backend
# A task is acknowledged when it ends, so a worker that dies mid-step leaves it to be delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis hands an unacknowledged task (its worker died) to another worker after this many seconds.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", LIVE_FLOW_STEP_LEASE + 60, minimum=1),
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10, minimum=1),
    "unacked_restore_throttle": 1,
}

# --- Webhooks (webhooks/): events POSTed, signed, to each organization's endpoints ---

# celery: a worker sends each delivery; thread: threads of the process that published the event;
# eager: inline, retries included (tests).
WEBHOOK_RUNNER = _choice(
    "FLOWDESK_WEBHOOK_RUNNER", "celery" if CELERY_BROKER_URL else "thread", ("celery", "thread", "eager")
)
if WEBHOOK_RUNNER == "celery" and not CELERY_BROKER_URL:
    raise ImproperlyConfigured("FLOWDESK_WEBHOOK_RUNNER=celery needs CELERY_BROKER_URL")
# Private, loopback, link-local and other non-public addresses are refused as targets unless this is on.
WEBHOOK_ALLOW_PRIVATE = env_bool("FLOWDESK_WEBHOOK_ALLOW_PRIVATE", False)
WEBHOOK_TIMEOUT = env_int("FLOWDESK_WEBHOOK_TIMEOUT", 10, minimum=1, maximum=300)  # seconds, connect and read
WEBHOOK_MAX_ATTEMPTS = env_int("FLOWDESK_WEBHOOK_MAX_ATTEMPTS", 6, minimum=1, maximum=50)
# After failed attempt n, the next one waits BACKOFF * 2^(n-1) seconds, at most BACKOFF_MAX.
WEBHOOK_BACKOFF_SECONDS = env_int("FLOWDESK_WEBHOOK_BACKOFF_SECONDS", 30, minimum=1)
WEBHOOK_BACKOFF_MAX_SECONDS = env_int("FLOWDESK_WEBHOOK_BACKOFF_MAX_SECONDS", 3600, minimum=1)
WEBHOOK_SENDER_THREADS = env_int("FLOWDESK_WEBHOOK_THREADS", 4, minimum=1, maximum=64)  # the embedded runner's


def _log_level():
    level = env_str("LOG_LEVEL", "WARNING").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL; got {level!r}")
    return level


SPECTACULAR_SETTINGS = {
    "TITLE": "Flowdesk API",
    "DESCRIPTION": (
        "Four API families, each wire-compatible with a vendor's documented API: live flows, "
        "user sessions, workflow chat and message flows. Send the API key in any of "
        "`Authorization: Bearer`, `Api-key` or `x-api-key`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The docs page's assets come from drf-spectacular-sidecar: it works with no network.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": _log_level()},
}
