"""AccountSync settings.

Every value comes from the environment or `.env` (django-environ). Each variable is read
once, typed, with a default; a malformed value stops start-up with an
``ImproperlyConfigured`` error that names the variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

# The typed readers (each names the variable when its value is malformed): accountsync/env.py.
from accountsync.env import base_url as _base_url
from accountsync.env import env
from accountsync.env import ip_networks as _ip_networks
from accountsync.env import positive as _positive
from accountsync.env import read as _read

BASE_DIR = Path(__file__).resolve().parent.parent

_env_file = os.environ.get("ACCOUNTSYNC_ENV_FILE", str(BASE_DIR / ".env"))
if os.path.isfile(_env_file):
    environ.Env.read_env(_env_file, overwrite=False)

DEBUG: bool = _read("bool", "DEBUG", False)
_secret = os.environ.get("SECRET_KEY", "")
if not _secret:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Environment variable SECRET_KEY is not set. Set it in .env (see .env.example), "
            "or set DEBUG=true for local development."
        )
    _secret = "insecure-development-key-not-for-production"  # noqa: S105 - DEBUG only
SECRET_KEY = _secret
ALLOWED_HOSTS: list[str] = _read("list", "ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = _read("list", "CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Only for the migration that hashes the keys it stored in plain text, then deletes them.
    "rest_framework.authtoken",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api_clients",
    # Who changed a department / employee-type mapping, when, before and after.
    "simple_history",
    "departments",
    "account_creation",
    "callbacks",
    # Content-Security-Policy (its checks: CONTENT_SECURITY_POLICY below) and the admin
    # login's lockout after repeated failures (AXES_* below).
    "csp",
    "axes",
]
# Off unless set: the sandbox's simulators exist only where someone asked for them
# (`make run` sets SANDBOX_ENABLED=true when it starts the sandbox).
SANDBOX_ENABLED: bool = _read("bool", "SANDBOX_ENABLED", False)
if SANDBOX_ENABLED:
    # The sandbox app only adds a management command; it never routes URLs of this server.
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so static files (Swagger UI's too) carry the policy as well.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's LocaleMiddleware, choosing as the contract says (zh-TW and zh-Hant get English).
    "accountsync.middleware.ContractLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Lets simple_history record the request's user (the admin's staff user, or the API
    # client's service user once DRF has authenticated it) as history_user.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accountsync.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes requires: turns a locked-out admin login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "accountsync.urls"
WSGI_APPLICATION = "accountsync.wsgi.application"

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

# --- Database -------------------------------------------------------------------------
_default_sqlite = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
try:
    DATABASES = {"default": env.db("DATABASE_URL", default=_default_sqlite)}
except Exception as exc:  # django-environ raises several types for a bad URL
    raise ImproperlyConfigured(
        f"Environment variable DATABASE_URL has an invalid value: {exc}"
    ) from exc
_db = DATABASES["default"]
if not str(_db.get("ENGINE", "")).startswith(("django.db.backends.sqlite3", "django.db.backends.postgresql")):
    raise ImproperlyConfigured(
        f"Environment variable DATABASE_URL uses an unsupported database ({_db.get('ENGINE')!r}): "
        "use sqlite:///path/to/file.sqlite3 or postgres://user:password@host:5432/name"
    )
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE makes writers queue on the busy timeout instead of failing with
    # "database is locked" when a read transaction tries to upgrade; WAL lets readers
    # proceed while one writer works.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db.setdefault("TEST", {})
    if "TEST_DATABASE_NAME" in os.environ:
        _db["TEST"]["NAME"] = os.environ["TEST_DATABASE_NAME"]
elif _db["ENGINE"].startswith("django.db.backends.postgresql"):
    _db["ENGINE"] = "django.db.backends.postgresql"
    _db.setdefault("CONN_MAX_AGE", 0)
    _db.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
DATABASE_VENDOR = "sqlite" if "sqlite" in _db["ENGINE"] else "postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Admin login lockout (django-axes) ----------------------------------------------------
# Only the admin's login form goes through authenticate(); API tokens never do. After
# ADMIN_LOCKOUT_FAILURES wrong passwords for one username, or from one address, that username
# or address is refused (429, even with the right password) until ADMIN_LOCKOUT_MINUTES pass
# without a new failure, or an operator unlocks it: `python manage.py axes_reset_username NAME`,
# `axes_reset_ip ADDRESS`, or `axes_reset` (every lockout). The address is the peer's
# (REMOTE_ADDR; X-Forwarded-For is not trusted), so behind a reverse proxy all callers share
# the proxy's address and its lockout.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT: int = _positive("ADMIN_LOCKOUT_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=_positive("ADMIN_LOCKOUT_MINUTES", 30.0, kind="float"))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Every message the product writes exists in English and Simplified Chinese (the catalog in
# locale/zh_Hans, compiled by `make install`). A request's Accept-Language chooses (zh, zh-CN,
# zh-Hans -> Chinese; anything else -> English); LANGUAGE_CODE is the language of commands'
# output, logs and requests that name no language.
LANGUAGE_CODE: str = _read("str", "LANGUAGE_CODE", "en-us").lower()
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
if LANGUAGE_CODE.split("-")[0] not in {"en", "zh"}:
    raise ImproperlyConfigured(
        f"Environment variable LANGUAGE_CODE has an invalid value {LANGUAGE_CODE!r}: expected en-us or zh-hans"
    )
if LANGUAGE_CODE.startswith("zh"):
    LANGUAGE_CODE = "zh-hans"
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE: str = _read("str", "TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves the admin's, the dashboard's and Swagger UI's files from the apps
# directly, so gunicorn needs no separate web server and no collectstatic step (run
# collectstatic anyway in production for compressed, cache-friendly copies).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start without it

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api_clients.authentication.ApiKeyAuthentication",
    ],
    # Authenticated, and holding the scope the action needs (api_clients/access.py).
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "api_clients.access.ScopePermission",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": _positive("API_PAGE_SIZE", 50),
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": _read("str", "API_THROTTLE_RATE", "6000/min")},
    "EXCEPTION_HANDLER": "accountsync.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(  # type: ignore[attr-defined]
        "rest_framework.renderers.BrowsableAPIRenderer"
    )
# Request bodies beyond this size are refused with 413 before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = _positive("API_MAX_BODY_BYTES", 5 * 1024 * 1024)

SPECTACULAR_SETTINGS = {
    "TITLE": "AccountSync API",
    "DESCRIPTION": (
        "Accepts onboarding requests from the OA system and creates IDaaS, WeLink and "
        "Email accounts asynchronously, in dependency order, exactly once."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Not used: the views in accountsync/api_docs.py decide (API_DOCS_PUBLIC below).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "AccountTypeEnum": "account_creation.models.AccountType",
        "TaskStatusEnum": "account_creation.models.TaskStatus",
        "RequestStatusEnum": "account_creation.request_selectors.REQUEST_STATUS_CHOICES",
    },
}

# --- Downstream systems (names from the product spec) -----------------------------------
IDAAS_ACCOUNT: str = _read("str", "IDAAS_ACCOUNT", "")
IDAAS_SECRET: str = _read("str", "IDAAS_SECRET", "")
IDAAS_ENTERPRISE_ID: str = _read("str", "IDAAS_ENTERPRISE_ID", "")
IDAAS_DC1: str = _read("str", "IDAAS_DC1", "example")
IDAAS_DC2: str = _read("str", "IDAAS_DC2", "com")
# Base URLs: no default; unset = the system is not configured (its tasks wait). https://
# unless the system runs on this machine (http://127.0.0.1:…, the sandbox).
IDAAS_BASE_URL: str = _base_url("IDAAS_BASE_URL")
IDAAS_DUPLICATE_CODES: list[str] = _read("list", "IDAAS_DUPLICATE_CODES", ["409"])
WELINK_CLIENT_ID: str = _read("str", "WELINK_CLIENT_ID", "")
WELINK_CLIENT_SECRET: str = _read("str", "WELINK_CLIENT_SECRET", "")
WELINK_BASE_URL: str = _base_url("WELINK_BASE_URL")
EMAIL_DOMAIN: str = _read("str", "EMAIL_DOMAIN", "@example.com")
EMAIL_AUTH_TOKEN: str = _read("str", "EMAIL_AUTH_TOKEN", "")
EMAIL_BASE_URL: str = _base_url("EMAIL_BASE_URL")

# --- Department mapping OUs (departments/validators.py) ----------------------------------
# A mapping's OU must lie in the domain DC=<IDAAS_DC1>,DC=<IDAAS_DC2> and outside AD's
# built-in containers (OU=Domain Controllers, CN=Builtin, CN=Users at the root, CN=Computers,
# CN=System, ...). An OU that ends with one of these DNs is allowed anyway. Comma-separated;
# each entry is a whole DN ending in its DC= parts, e.g.
# ALLOWED_OU_SUFFIXES=CN=Users,DC=example,DC=com  (a new entry starts at the first OU=/CN=
# after a DC=). Default: none.
ALLOWED_OU_SUFFIXES: list[str] = _read("list", "ALLOWED_OU_SUFFIXES", [])

# --- Engine -----------------------------------------------------------------------------
ACCOUNT_CREATION_ENABLED: bool = _read("bool", "ACCOUNT_CREATION_ENABLED", True)
ACCOUNT_CREATION_MAX_RETRIES: int = _positive("ACCOUNT_CREATION_MAX_RETRIES", 5)
ACCOUNT_CREATION_HTTP_TIMEOUT: float = _positive(
    "ACCOUNT_CREATION_HTTP_TIMEOUT", 30.0, kind="float"
)
ACCOUNT_CREATION_BACKOFF_BASE_SECONDS: float = _positive(
    "ACCOUNT_CREATION_BACKOFF_BASE_SECONDS", 60.0, kind="float", allow_zero=True
)
ACCOUNT_CREATION_BACKOFF_MAX_SECONDS: float = _positive(
    "ACCOUNT_CREATION_BACKOFF_MAX_SECONDS", 3600.0, kind="float", allow_zero=True
)
ACCOUNT_CREATION_LEASE_SECONDS: float = _positive(
    "ACCOUNT_CREATION_LEASE_SECONDS", 600.0, kind="float"
)
ACCOUNT_CREATION_MAX_USERS_PER_REQUEST: int = _positive(
    "ACCOUNT_CREATION_MAX_USERS_PER_REQUEST", 1000
)
ACCOUNT_CREATION_RUN_INTERVAL_SECONDS: float = _positive(
    "ACCOUNT_CREATION_RUN_INTERVAL_SECONDS", 300.0, kind="float"
)

# --- Completion callbacks (callbacks app) -------------------------------------------------
# Delivered by the same process_account_creation_tasks runs, after their account work.
CALLBACK_MAX_ATTEMPTS: int = _positive("CALLBACK_MAX_ATTEMPTS", 12)
# First retry after this many seconds, doubling (with jitter) up to the maximum; 0 retries
# at the next run.
CALLBACK_BACKOFF_BASE_SECONDS: float = _positive("CALLBACK_BACKOFF_BASE_SECONDS", 30.0, kind="float", allow_zero=True)
CALLBACK_BACKOFF_MAX_SECONDS: float = _positive("CALLBACK_BACKOFF_MAX_SECONDS", 6 * 3600.0, kind="float")
CALLBACK_TIMEOUT_SECONDS: float = _positive("CALLBACK_TIMEOUT_SECONDS", 5.0, kind="float")
# At most this many deliveries in flight to one receiver (every runner together).
CALLBACK_CONCURRENCY_PER_RECEIVER: int = _positive("CALLBACK_CONCURRENCY_PER_RECEIVER", 2)
# How long one run may spend delivering after its account work (the rest waits for the next).
CALLBACK_DELIVERY_SECONDS: float = _positive("CALLBACK_DELIVERY_SECONDS", 30.0, kind="float")
# A delivery whose runner vanished is taken over after this long.
CALLBACK_LEASE_SECONDS: float = _positive("CALLBACK_LEASE_SECONDS", 60.0, kind="float")
# Non-loopback callback URLs must be https unless this is true (a test network).
CALLBACK_ALLOW_HTTP: bool = _read("bool", "CALLBACK_ALLOW_HTTP", False)
# --- Downstream health (account_creation/services/health.py, ratelimit.py) ----------------
# A system is quarantined (its tasks wait, spending no attempts) on an answer no task can fix,
# or after this many transport failures / 5xx in a row across tasks; one probe task per
# PROBE_SECONDS tries it again.
ACCOUNT_CREATION_QUARANTINE_AFTER: int = _positive("ACCOUNT_CREATION_QUARANTINE_AFTER", 10)
ACCOUNT_CREATION_QUARANTINE_PROBE_SECONDS: float = _positive(
    "ACCOUNT_CREATION_QUARANTINE_PROBE_SECONDS", 300.0, kind="float"
)
# Calls per second to each system, shared by every thread and runner through the database.
# 0 (default) = no fixed limit; a rate-limited answer still slows the system down (AIMD).
ACCOUNT_CREATION_RATE_LIMIT_IDAAS: float = _positive(
    "ACCOUNT_CREATION_RATE_LIMIT_IDAAS", 0.0, kind="float", allow_zero=True
)
ACCOUNT_CREATION_RATE_LIMIT_WELINK: float = _positive(
    "ACCOUNT_CREATION_RATE_LIMIT_WELINK", 0.0, kind="float", allow_zero=True
)
ACCOUNT_CREATION_RATE_LIMIT_EMAIL: float = _positive(
    "ACCOUNT_CREATION_RATE_LIMIT_EMAIL", 0.0, kind="float", allow_zero=True
)

# --- Trust boundaries: reserved names and personal-data retention ------------------------
# Account names no hire may get (account_creation/reserved.py), compared case-insensitively
# with the IDaaS userName (= AD sAMAccountName), the mailbox local part (before and after a
# collision suffix) and the Exchange alias. Intake rejects such a person; the engine refuses
# again before any downstream call. Comma-separated; setting it REPLACES this default list.
RESERVED_ACCOUNT_NAMES: list[str] = _read("list", "RESERVED_ACCOUNT_NAMES", [
    "administrator", "admin", "guest", "krbtgt", "root", "system", "defaultaccount",
    "wdagutilityaccount", "sysadmin", "operator", "daemon", "nobody", "test",
    "postmaster", "abuse", "hostmaster", "webmaster", "noc", "security", "support", "info",
    "helpdesk", "it", "noreply", "no-reply", "mailer-daemon", "ftp", "www",
])
# `manage.py purge_personal_data` anonymises names and phone numbers of tasks finished
# (completed or failed) more than this many days ago. 0 disables the scheduled purge (the
# command without --older-than does nothing).
PERSONAL_DATA_RETENTION_DAYS: int = _positive("PERSONAL_DATA_RETENTION_DAYS", 365, allow_zero=True)

# --- Metrics (GET /metrics) --------------------------------------------------------------
# A scraper is let in with the token of an API client holding the metrics scope
# (Authorization: Token <key>), with this bearer token (Authorization: Bearer
# <METRICS_TOKEN>), from an address in METRICS_ALLOWED_IPS, or as staff with view permission.
METRICS_TOKEN: str = _read("str", "METRICS_TOKEN", "")
METRICS_ALLOWED_IPS: list[str] = _read("list", "METRICS_ALLOWED_IPS", [])


METRICS_ALLOWED_NETWORKS = _ip_networks("METRICS_ALLOWED_IPS", [v for v in METRICS_ALLOWED_IPS if v.strip()])

# --- Logging ----------------------------------------------------------------------------
LOG_DIR = Path(_read("str", "LOG_DIR", str(BASE_DIR / "logs")))
LOG_DIR.mkdir(parents=True, exist_ok=True)
LOG_LEVEL: str = _read("str", "LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"Environment variable LOG_LEVEL has an invalid value {LOG_LEVEL!r}: "
        "expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "accountsync.logging.RedactSecretsFilter"}},
    "formatters": {
        "keyvalue": {
            # asctime in TIME_ZONE with its offset, e.g. 2026-11-02T14:00:00+08:00.
            "()": "accountsync.logging.ZonedFormatter",
            "format": "%(asctime)s level=%(levelname)s logger=%(name)s pid=%(process)d %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "keyvalue",
            "filters": ["redact"],
        },
        "file": {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(LOG_DIR / "hr_sync.log"),
            "maxBytes": 10 * 1024 * 1024,
            "backupCount": 5,
            "encoding": "utf-8",
            "formatter": "keyvalue",
            "filters": ["redact"],
            "delay": True,
        },
    },
    "root": {"handlers": ["console", "file"], "level": "WARNING"},
    "loggers": {
        "account_creation": {"level": LOG_LEVEL},
        "api_clients": {"level": LOG_LEVEL},
        "callbacks": {"level": LOG_LEVEL},
        "departments": {"level": LOG_LEVEL},
        "sandbox": {"level": LOG_LEVEL},
        "accountsync": {"level": LOG_LEVEL},
        "django.request": {"level": "ERROR"},
    },
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    CSRF_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Trust boundaries: HTTPS, proxy, Content-Security-Policy, API docs ------------------------
# HTTPS_ONLY=true: http:// is redirected to https:// (except /healthz, for load balancers'
# plain-http probes), browsers are told to use https only (HSTS, one year, subdomains too)
# and the session and CSRF cookies are sent over https only.
HTTPS_ONLY: bool = _read("bool", "HTTPS_ONLY", False)
if HTTPS_ONLY:
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Only consent to preloading: nothing happens until someone submits the domain to
    # hstspreload.org (and `check --deploy` asks for it).
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# TRUST_X_FORWARDED_PROTO=true: behind a TLS-terminating reverse proxy that sets (and strips
# from clients) X-Forwarded-Proto, a request with "X-Forwarded-Proto: https" counts as https.
# Never set it without such a proxy: any client could then claim https.
TRUST_X_FORWARDED_PROTO: bool = _read("bool", "TRUST_X_FORWARDED_PROTO", False)
if TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp 4): everything from this server only; no inline script or
# style except those carrying the request's nonce (Swagger UI's start-up script and style,
# templates/api_docs/swagger_ui.html); data: images for Swagger UI's stylesheet icons.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "upgrade-insecure-requests": HTTPS_ONLY,
    },
}

# The OpenAPI document (/api/schema/) needs an API token (any scope) unless API_DOCS_PUBLIC is
# true; default: public in development (DEBUG=true), not otherwise. The Swagger UI page
# (/api/docs/) is always served: it holds no API description, and its Authorize button takes a
# token (`Token <key>`) with which it then loads the document.
API_DOCS_PUBLIC: bool = _read("bool", "API_DOCS_PUBLIC", DEBUG)
