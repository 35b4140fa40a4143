"""Preflight settings.

Every deploy-specific value comes from the environment (see `.env.example`). With nothing set,
the embedded default runs: DEBUG on, SQLite under var/, tasks eager, console email,
local-memory cache. With DEBUG off there is no default for secrets: SECRET_KEY and
ALLOWED_HOSTS must be given, or the app refuses to start.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-never-use-in-production")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")

SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
SITE_ID = 1

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "portal",
    "gates",
    "projects",
    "audits",
    # API tokens for integrations (/api/v1/).
    "tokens",
    # Automation: notifications, webhooks.
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Accounts: staff need two-factor authentication for the admin.
    "portal.accounts.AdminRequiresTwoFactorMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite under var/ by default; PostgreSQL (psycopg 3) through DATABASE_URL.
VAR_DIR.mkdir(exist_ok=True)
(VAR_DIR / "static").mkdir(exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'preflight.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections, checked before reuse, so a database restart costs no request.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: Celery broker and shared cache. Without it, tasks run eagerly and the cache is local.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="preflight"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
# Redis, with a worker that survives a broker restart while it holds messages (see portal/broker.py).
CELERY_BROKER_TRANSPORT = "portal.broker:Transport" if REDIS_URL else None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Seconds before a message taken by a worker that died (acks_late) is handed to another one.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    # Only every Nth of those sweeps actually scans Redis (kombu's default is 10).
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
CELERY_TIMEZONE = "UTC"
# Seconds a recompute waits so that a burst of changes to one project is computed once.
PREFLIGHT_RECOMPUTE_DELAY = env.float("PREFLIGHT_RECOMPUTE_DELAY", default=2.0)

# --- Automation: periodic work, notifications, webhooks ------------------------------------------
from celery.schedules import crontab  # noqa: E402

# Seconds the event dispatcher waits so that a burst of changes is fanned out in one run.
PREFLIGHT_DISPATCH_DELAY = env.float("PREFLIGHT_DISPATCH_DELAY", default=1.0)
# Owners are reminded of gates due within this many days (and of overdue ones), once a day.
PREFLIGHT_DUE_REMINDER_DAYS = env.int("PREFLIGHT_DUE_REMINDER_DAYS", default=3)
# Owners and approvers are warned this many days before a waiver expires.
PREFLIGHT_WAIVER_WARNING_DAYS = env.int("PREFLIGHT_WAIVER_WARNING_DAYS", default=3)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
# A subscription is disabled (and its owners told) after this many deliveries in a row gave up.
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=5)
# HTTP checks and webhooks may reach loopback, private, link-local, multicast and reserved
# addresses (checked after DNS resolution, on every connection). Off unless DEBUG: otherwise any
# editor could probe the internal network or a cloud metadata endpoint and read the answer.
PREFLIGHT_ALLOW_PRIVATE_URLS = env.bool("PREFLIGHT_ALLOW_PRIVATE_URLS", default=DEBUG)
# A notification email that fails is retried after this many seconds, doubled after each
# failure, and given up after PREFLIGHT_EMAIL_MAX_ATTEMPTS attempts (it stays listed in the app).
PREFLIGHT_EMAIL_RETRY_SECONDS = env.float("PREFLIGHT_EMAIL_RETRY_SECONDS", default=300.0)
PREFLIGHT_EMAIL_MAX_ATTEMPTS = env.int("PREFLIGHT_EMAIL_MAX_ATTEMPTS", default=5)
CELERY_BEAT_SCHEDULE = {
    "recompute-due-projects": {"task": "projects.tasks.recompute_due_projects", "schedule": 60.0},
    "dispatch-events": {"task": "notifications.tasks.dispatch_events", "schedule": 60.0},
    "expire-evidence": {"task": "projects.tasks.expire_evidence", "schedule": 300.0},
    "expire-waivers": {"task": "projects.tasks.expire_waivers", "schedule": 300.0},
    "probe-due-checks": {"task": "projects.tasks.probe_due_checks", "schedule": 60.0},
    "retry-due-webhooks": {"task": "notifications.tasks.retry_due_webhooks", "schedule": 60.0},
    "send-notification-emails": {"task": "notifications.tasks.send_notification_emails", "schedule": 300.0},
    "send-waiver-warnings": {"task": "notifications.tasks.send_waiver_warnings", "schedule": crontab(minute=15)},
    # Hourly, and idempotent by a constraint: a day missed while beat was down is still taken.
    "take-daily-snapshots": {"task": "projects.tasks.take_daily_snapshots", "schedule": crontab(minute=5)},
    "send-due-reminders": {"task": "notifications.tasks.send_due_reminders", "schedule": crontab(hour=8, minute=0)},
    "send-daily-digests": {"task": "notifications.tasks.send_daily_digests", "schedule": crontab(hour=7, minute=0)},
    "send-weekly-digest": {
        "task": "notifications.tasks.send_weekly_digest",
        "schedule": crontab(day_of_week="mon", hour=7, minute=30),
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ALLOW_REGISTRATION = env.bool("ACCOUNT_ALLOW_REGISTRATION", default=False)
# Failed logins: at most 10 a minute from one address (one address trying many accounts), and 5 in
# 15 minutes for one account (however it is named: see portal.accounts).
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/15m/key"}
# The client address of those limits: behind NUM_PROXIES reverse proxies it is taken from
# X-Forwarded-For (as for the API throttles), else every client would share the proxy's address.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("NUM_PROXIES", default=0)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Accounts: closed sign-up unless allowed, failed logins counted per account (and a refusal that
# says which limit was hit), and the "Sign up" link hidden when sign-up is closed.
ACCOUNT_ADAPTER = "portal.accounts.AccountAdapter"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.int("ACCOUNT_REAUTHENTICATION_TIMEOUT", default=300)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Mail: console by default; EMAIL_URL (smtp://user:pass@host:587, add ?ssl=True or use smtp+tls://).
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
_email_options = {
    option: _email.get(setting)
    for option, setting in [
        ("host", "EMAIL_HOST"),
        ("port", "EMAIL_PORT"),
        ("username", "EMAIL_HOST_USER"),
        ("password", "EMAIL_HOST_PASSWORD"),
        ("use_tls", "EMAIL_USE_TLS"),
        ("use_ssl", "EMAIL_USE_SSL"),
    ]
    if _email.get(setting)
}
MAILERS = {"default": {"BACKEND": _email["EMAIL_BACKEND"], "OPTIONS": _email_options}}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Preflight <preflight@localhost>")

# Security: every asset is served by the app, so the policy allows only our own origin.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

REST_FRAMEWORK = {
    # /api/v1/: tokens for integrations, the session (with CSRF) for the UI's own calls; see portal/api_common.py.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api_common.TokenAuthentication",
        "portal.api_common.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api_common.ScopePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "portal.api_common.StrictOrderingFilter",  # an unknown ?ordering= field is a 400
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "portal.api_common.PagePagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "portal.api_common.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "portal.api_common.TokenRateThrottle",
        "portal.api_common.AnonClientRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "token": env.str("API_THROTTLE_TOKEN", default="1200/min"),
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Refuses too deeply nested JSON with a 400 (DRF's own parser lets a RecursionError through).
    "DEFAULT_PARSER_CLASSES": ["portal.api_common.SafeJSONParser"],
    # Trusted reverse proxies in front of the app: 0 takes the client address from the connection
    # (REMOTE_ADDR) and ignores X-Forwarded-For, which any client can set.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Preflight API",
    "DESCRIPTION": "Launch readiness: projects, gates, check results, sign-offs, snapshots.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # /api/v1/ schema: separate request/response components, docs readable without logging in.
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "ENUM_NAME_OVERRIDES": {
        "VerdictEnum": "projects.readiness.VERDICTS",
        # A gate's status, wherever it appears (gates, import previews).
        "GateStatusEnum": "projects.models.STATUS_CHOICES",
        # Automation: kinds of notification, and of snapshot (both fields are named "kind").
        "NotificationKindEnum": "notifications.models.Kind",
        "SnapshotKindEnum": "audits.models.ReadinessSnapshot.Kind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api_common.schema_error_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per task is noise in the embedded default, where every task runs in-process.
        "celery.app.trace": {"level": "WARNING"},
    },
}
