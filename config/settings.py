"""Gatehouse settings: one module, read from the environment.

Unset, everything falls back to the embedded default that `make run` uses: SQLite, console
email, Celery tasks run in-process, billing "not configured". With DJANGO_ENV=production the
module refuses to start unless the secrets and hosts a real deployment needs are given.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# An empty variable means unset: Compose passes `NAME=` lines of an env file through as "".
for _name in [name for name, value in os.environ.items() if value == ""]:
    del os.environ[_name]

# FileAwareEnv also reads `NAME_FILE` (a path) for every variable, for Docker/Kubernetes secrets.
env = environ.FileAwareEnv()

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be 'development' or 'production', not {DJANGO_ENV!r}.")
PRODUCTION = DJANGO_ENV == "production"

MIN_SECRET_KEY_LENGTH = 50


def _strict_bool(name: str, default: bool) -> bool:
    """Like env.bool, but a value that is not clearly a boolean is an error, not False."""
    raw = env.str(name, default="")
    if raw == "":
        return default
    value = raw.strip().lower()
    if value in {"true", "1", "yes", "on"}:
        return True
    if value in {"false", "0", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (True/False), not {raw!r}.")


def _require(name: str) -> None:
    if not env.str(name, default=""):
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production.")


if PRODUCTION:
    for required in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"):
        _require(required)


def _development_secret_key() -> str:
    """A random key kept in an ignored file, so `make run` needs no setup and the repo holds no key."""
    path = BASE_DIR / ".dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or ("" if PRODUCTION else _development_secret_key())
if PRODUCTION and (
    SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < MIN_SECRET_KEY_LENGTH or len(set(SECRET_KEY)) < 5
):
    raise ImproperlyConfigured(
        f"SECRET_KEY is a default or too weak: use at least {MIN_SECRET_KEY_LENGTH} random characters "
        "(python3 -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )

DEBUG = _strict_bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be False when DJANGO_ENV=production.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
if PRODUCTION and "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the real hosts, not '*'.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base URL for links in mail and for Stripe redirect URLs.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.mfa",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.github",
    "allauth.usersessions",
    "djstripe",
    "mail",
    "accounts",
    "billing",
]

MIDDLEWARE = [
    "config.probes.ProbeMiddleware",  # first: /livez and /readyz answer before any get_host() (any Host)
    "config.logging.RequestLogMiddleware",
    "config.error_responses.ErrorResponseMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.security_headers.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "accounts.mfa.SecondFactorRequiredMiddleware",  # staff (MFA_REQUIRED_GROUPS) enrol before anything else
    "accounts.middleware.SessionActivityMiddleware",  # "last active" on the session list, once a minute
    "django_ratelimit.middleware.RatelimitMiddleware",
    "accounts.api.ratelimit.ApiRateLimitMiddleware",
    "accounts.api.sessions.TokenOnlyApiMiddleware",  # after Session/MessageMiddleware: /api/ is token-only
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
                "billing.context_processors.billing",
                "config.context_processors.support",
            ],
        },
    },
]

# --- Data ---------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60 if PRODUCTION else 0))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serves `make run` and the SQLite test pass: concurrent requests must wait for the one
    # writer instead of failing with "database is locked". WAL lets readers run beside the writer;
    # IMMEDIATE takes the write lock when a transaction starts (a deferred one that reads, then
    # writes, fails at once without waiting); `timeout` is how long a writer waits for the lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    # Tests that run real threads need a file: an in-memory database shared between threads
    # locks whole tables (SQLITE_LOCKED), which no busy timeout waits for.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(BASE_DIR / "db-test.sqlite3"))
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A hung (not refusing) database must not hold a worker until gunicorn kills it: give up
    # connecting after a few seconds and answer 503 (config.error_responses).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis, but a Redis outage degrades to a per-process cache instead of 500s.
            "BACKEND": "config.cache.DegradingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "gatehouse",
            # Every request reads the cache: a hung Redis may cost one request this long per
            # process and retry window (config.cache), not seconds per call.
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.3, "SOCKET_TIMEOUT": 0.3},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Passwords ----------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "accounts.hashers.Argon2idHasher",  # Argon2id, RFC 9106 option 2 cost, one lane
    # Kept so hashes made by older hashers still verify and are upgraded on sign-in.
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # allauth's backend signs in by email or username; ModelBackend alone would only know usernames.
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "accounts_profile"

# --- Accounts (django-allauth) -------------------------------------------------------------
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email", "username"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = env.int("ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS", default=3)
# A link opens a page with a button: mail scanners that fetch links must not confirm addresses.
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
# Confirming in the browser that signed up signs the person in (allauth does it only there);
# opened elsewhere, the sign-in form comes with the confirmed address filled in (AccountAdapter).
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Gatehouse] "
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_BY_CODE_TIMEOUT = env.int("LOGIN_CODE_TIMEOUT", default=300)
ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS = env.int("LOGIN_CODE_MAX_ATTEMPTS", default=3)
ACCOUNT_LOGIN_BY_CODE_FORMAT = {"numeric": True, "length": 6, "dashed": False}
# Code tries counted atomically, not in the session (concurrent guesses in one session; accounts/forms.py).
ACCOUNT_FORMS = {"confirm_login_code": "accounts.forms.ConfirmLoginCodeForm", "login": "accounts.forms.LoginForm"}
# Asked again (password, or the second factor) before changing or removing an address, connecting
# or disconnecting a provider, changing the password, MFA changes and deactivation (accounts.views).
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
ACCOUNT_PASSWORD_INPUT_RENDER_VALUE = False
ACCOUNT_SESSION_REMEMBER = None
# allauth's own limits (login, failed logins, signup, reset, code), counted in the cache (Redis).
ACCOUNT_RATE_LIMITS = {
    "login": env.str("RATE_LIMIT_LOGIN", default="30/m/ip"),
    "login_failed": env.str("RATE_LIMIT_LOGIN_FAILED", default="10/m/ip,5/5m/key"),
    "signup": env.str("RATE_LIMIT_SIGNUP", default="20/m/ip"),
    "confirm_email": env.str("RATE_LIMIT_CONFIRM_EMAIL", default="1/3m/key"),
    "reset_password": env.str("RATE_LIMIT_RESET_PASSWORD", default="20/m/ip,5/m/key"),
    "reset_password_from_key": env.str("RATE_LIMIT_RESET_PASSWORD_FROM_KEY", default="20/m/ip"),
    "change_password": env.str("RATE_LIMIT_CHANGE_PASSWORD", default="5/m/user"),
    "manage_email": env.str("RATE_LIMIT_MANAGE_EMAIL", default="10/m/user"),
    "request_login_code": env.str("RATE_LIMIT_REQUEST_LOGIN_CODE", default="20/m/ip,3/m/key"),
    "reauthenticate": env.str("RATE_LIMIT_REAUTHENTICATE", default="10/m/user"),
}
# Clients' IP for rate limits and session lists: the n-th address from the right of
# X-Forwarded-For when n trusted proxies stand in front; 0 means REMOTE_ADDR (never spoofable).
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False
# A provider claiming a local account's email must not sign into it: the user signs in and connects.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_PROVIDERS = {
    "google": {"SCOPE": ["profile", "email"], "AUTH_PARAMS": {"access_type": "online"}, "APPS": []},
    "github": {"SCOPE": ["read:user", "user:email"], "APPS": []},
}
for _provider in ("google", "github"):
    _client_id = env.str(f"{_provider.upper()}_CLIENT_ID", default="")
    if _client_id:
        SOCIALACCOUNT_PROVIDERS[_provider]["APPS"].append(
            {"client_id": _client_id, "secret": env.str(f"{_provider.upper()}_CLIENT_SECRET"), "key": ""}
        )
USERSESSIONS_TRACK_ACTIVITY = False

# MFA
# allauth.mfa: an authenticator app (TOTP, QR code), recovery codes, WebAuthn security keys and
# passkeys (sign in with no password and no email). Its pages use the portal layout (templates/mfa).
MFA_ADAPTER = "accounts.mfa.MFAAdapter"
MFA_FORMS = {"add_webauthn": "accounts.forms.AddWebAuthnForm"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = "Gatehouse"
MFA_TOTP_PERIOD = 30
MFA_TOTP_DIGITS = 6
# A code from the period before or after also counts (phones' clocks drift; RFC 6238 section 5.2).
# A code is still accepted once only: allauth remembers used codes in the cache.
MFA_TOTP_TOLERANCE = 1
MFA_RECOVERY_CODE_COUNT = 10
# Shown once, when made (and downloadable then); afterwards only "n of 10 left" and "generate new".
MFA_RECOVERY_CODES_SHOW_ONCE = True
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_WEBAUTHN_USER_VERIFICATION = "preferred"
# Never True: allauth's "insecure origin" switch turns the origin check off altogether, so an
# assertion made for https://evil.example would sign in (tests/api/test_passkey_login.py). WebAuthn's
# own check (fido2) already accepts http://localhost and http://*.localhost, which is what `make run`
# on localhost and the browser tests use.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = False
# "Trust this browser": after the second factor, the browser may skip it for this many days.
MFA_TRUST_ENABLED = True
MFA_TRUST_COOKIE_AGE = timedelta(days=env.int("MFA_TRUST_DAYS", default=14))
MFA_TRUST_COOKIE_NAME = "mfa_trusted"
# Who must use a second factor: every is_staff user, plus members of these groups (comma-separated
# names). Until they enrol they reach only the MFA setup pages; the admin also needs a session that
# passed the factor (accounts.mfa).
MFA_REQUIRED_FOR_STAFF = _strict_bool("MFA_REQUIRED_FOR_STAFF", default=True)
MFA_REQUIRED_GROUPS = env.list("MFA_REQUIRED_GROUPS", default=[])
# The API's second step (POST /api/login/mfa, the passkey endpoints): how long the mfa_token or a
# WebAuthn challenge it hands out stays usable, and how many wrong codes one mfa_token takes.
API_MFA_TOKEN_TIMEOUT = env.int("API_MFA_TOKEN_TIMEOUT", default=300)
API_MFA_TOKEN_MAX_ATTEMPTS = env.int("API_MFA_TOKEN_MAX_ATTEMPTS", default=5)

# --- Mobile API (DRF + simplejwt) --------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.api.authentication.FamilyJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": ["accounts.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "accounts.api.schema.ContractAutoSchema",
    "EXCEPTION_HANDLER": "accounts.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "SIGNING_KEY": SECRET_KEY,
    "LEEWAY": 5,
}
# A login's refresh tokens stop rotating this long after the password (or code) was entered.
JWT_ABSOLUTE_REFRESH_LIFETIME = timedelta(days=env.int("JWT_ABSOLUTE_REFRESH_DAYS", default=90))
# A refresh token presented again this soon after it was rotated, while its successor is still unused,
# gets that same successor (an app's two refreshes at once); later it is a replay and ends the login.
REFRESH_REUSE_GRACE_SECONDS = env.int("REFRESH_REUSE_GRACE_SECONDS", default=10)
API_MAX_BODY_BYTES = 64 * 1024
REFRESH_COOKIE_NAME = "refresh_token"
REFRESH_COOKIE_PATH = "/api/"
# API rate limits (django-ratelimit, counted in the cache): a default for every /api/ view and
# overrides by URL name, e.g. API_RATE_LIMITS="api-plans=60/m,api-refresh-token=10/m".
API_RATE_LIMIT_DEFAULT = env.str("API_RATE_LIMIT_DEFAULT", default="5/m")
API_RATE_LIMITS = env.dict("API_RATE_LIMITS", default={})
# Where the social web flow may hand its one-time code back to the app (prefixes, comma-separated).
API_SOCIAL_REDIRECT_ALLOWLIST = env.list("API_SOCIAL_REDIRECT_ALLOWLIST", default=["gatehouse://"])
SOCIAL_HANDOFF_TIMEOUT = 120
SPECTACULAR_SETTINGS = {
    "TITLE": "Gatehouse API",
    "DESCRIPTION": "Accounts and subscription billing for the mobile apps. Errors: 422 "
    '`{"errors": {field: message}}`, otherwise `{"detail": message}`.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "accounts.api.schema.add_common_error_responses",
    ],
    # Swagger UI's assets come from the drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Security -----------------------------------------------------------------------------
# Sessions live in the database and are read through the cache (Redis): a signed-in page costs
# one cache GET instead of a query; a cache outage or flush costs nobody their session.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sent on every response by config.security_headers. No inline script or style runs; a page that
# must inline one marks it nonce="{{ request.csp_nonce }}" (only /api/docs/, drf-spectacular's
# Swagger UI) and only that response allows its nonce.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "frame-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
    # Chromium checks form-action on the redirect that follows a POST too: subscribing and "manage
    # payment" post, then go to Stripe Checkout / the Billing Portal; social sign-in posts, then goes
    # to Google's or GitHub's consent page.
    "form-action": [
        "'self'",
        "https://checkout.stripe.com",
        "https://billing.stripe.com",
        "https://accounts.google.com",
        "https://github.com",
    ],
}
# Powerful browser features this site never uses, denied to it and to anything it embeds.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = _strict_bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _strict_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = _strict_bool("SECURE_HSTS_PRELOAD", default=True)
# Under the image's gunicorn, is_secure() needs no setting here: gunicorn sets the WSGI scheme from
# X-Forwarded-Proto of FORWARDED_ALLOW_IPS peers only, and gunicorn.conf.py drops the header from
# all others. USE_X_FORWARDED_PROTO is for another server, behind a proxy that overwrites the header.
if _strict_bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Internationalisation -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# Our wording of allauth's English strings (locale/en/LC_MESSAGES/django.po), read before allauth's own.
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# --- Uploaded files (profile pictures) ----------------------------------------------------
# Django's default storage writes under MEDIA_ROOT. The production image's root is read-only,
# so there it must be a writable volume shared by every web container: the production default,
# /var/lib/gatehouse/media, is a VOLUME of the image and where docker-compose.yml mounts one.
# Whitenoise serves static files only: accounts.views.picture streams pictures at
# content-addressed URLs (immutable, nosniff), in `make run` and in production alike, so there
# is no MEDIA_URL route and no web-server alias.
MEDIA_ROOT = env.str("MEDIA_ROOT", default="/var/lib/gatehouse/media" if PRODUCTION else str(BASE_DIR / "media"))
# The largest picture accepted; uploads are kept in memory up to this size, never in a temporary
# file (accounts.pictures.PictureUploadHandler), and refused by size beyond it.
PROFILE_PICTURE_MAX_BYTES = env.int("PROFILE_PICTURE_MAX_BYTES", default=5 * 1024 * 1024)
# Profile saves (each may decode a picture) per person, django-ratelimit's format.
PROFILE_RATE_LIMIT = env.str("PROFILE_RATE_LIMIT", default="10/m")

# collectstatic keeps only the hashed copies (the manifest's names) in production: the unhashed
# copies are never referenced by {% static %} and were ~16 MB of the image.
WHITENOISE_KEEP_ONLY_HASHED_FILES = PRODUCTION

# --- Email --------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# Backends that print, keep or drop mail instead of delivering it: in production a reset or
# sign-in link would end up in a log (or nowhere), so they need an explicit yes.
UNDELIVERED_EMAIL_BACKENDS = {
    f"django.core.mail.backends.{name}.EmailBackend" for name in ("console", "locmem", "dummy", "filebased")
}
_allow_console_email = _strict_bool("ALLOW_CONSOLE_EMAIL_IN_PRODUCTION", default=False)
if PRODUCTION and EMAIL_CONFIG["EMAIL_BACKEND"] in UNDELIVERED_EMAIL_BACKENDS and not _allow_console_email:
    raise ImproperlyConfigured(
        f"EMAIL_URL gives {EMAIL_CONFIG['EMAIL_BACKEND']}, which delivers no mail: set EMAIL_URL to an SMTP server "
        "(smtp+tls://user:password@host:587) when DJANGO_ENV=production, or ALLOW_CONSOLE_EMAIL_IN_PRODUCTION=True."
    )
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Gatehouse <no-reply@gatehouse.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where people write when they are stuck (shown as a mailto: link on the account pages and in mails).
SUPPORT_EMAIL = env.str("SUPPORT_EMAIL", default="support@gatehouse.localhost")

# --- Celery -------------------------------------------------------------------------------
# Without a broker (the `make run` default) tasks run in-process, synchronously.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keep Django's LOGGING (one JSON line per task run, with its fields) in workers and beat:
# Celery would otherwise replace the root handlers and print only the message, dropping `extra`.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 3, "socket_timeout": 3, "visibility_timeout": 3600}
# Publishing runs on request paths (a sign-up publishes its mail): one try with a short socket
# timeout (config.celery), never an inline retry; the outbox sweep publishes a lost mail again.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_PUBLISH_SOCKET_TIMEOUT = 0.5
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
# The beat schedule lives in django-celery-beat's tables (billing/migrations/*_periodic_schedule.py
# creates it; edit it in the admin). The outbox sweep re-dispatches a mail still unsent after this
# many seconds (doubling per attempt) and gives up after OUTBOX_MAX_ATTEMPTS.
OUTBOX_RESEND_AFTER_SECONDS = env.int("OUTBOX_RESEND_AFTER_SECONDS", default=120)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=10)

# --- Billing ------------------------------------------------------------------------------
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLIC_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
if PRODUCTION and STRIPE_SECRET_KEY and not STRIPE_LIVE_MODE and not _strict_bool("STRIPE_TEST_MODE_OK", False):
    raise ImproperlyConfigured(
        "STRIPE_SECRET_KEY is a test key in production; set STRIPE_TEST_MODE_OK=True for staging."
    )
# Pinned: dj-stripe 2.11's default, the version its sync code was written against.
STRIPE_API_VERSION = env.str("STRIPE_API_VERSION", default="2026-05-27.dahlia")
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=10)
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
# Access continues this long past current_period_end before the expiry sweep ends it.
BILLING_GRACE_PERIOD = timedelta(hours=env.int("BILLING_GRACE_HOURS", default=24))

# --- Rate limits --------------------------------------------------------------------------
RATELIMIT_ENABLE = _strict_bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_VIEW = "config.views.rate_limited"
# Without Redis, the local-memory cache counts per process (fine for `make run`, not production).
SILENCED_SYSTEM_CHECKS = [] if PRODUCTION or REDIS_URL else ["django_ratelimit.E003", "django_ratelimit.W001"]
if PRODUCTION and not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL must be set when DJANGO_ENV=production (cache, rate limits, Celery).")

# --- Logging ------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# Stdout only, unless LOG_FILE names a file: the image runs with a read-only root filesystem and
# any uid (Kubernetes, OpenShift), where nothing may be written, and the platform collects stdout.
# The file's directory must exist and be writable; nothing creates it.
LOG_FILE = env.str("LOG_FILE", default="")
_log_handlers = {
    "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"},
}
if LOG_FILE:
    _log_handlers["file"] = {
        "class": "logging.handlers.RotatingFileHandler",
        "filename": LOG_FILE,
        "maxBytes": 10 * 1024 * 1024,
        "backupCount": 5,
        "formatter": "json",
        "encoding": "utf-8",
    }
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": _log_handlers,
    "root": {"handlers": list(_log_handlers), "level": LOG_LEVEL},
    "loggers": {
        # The request line comes from config.logging; Django's own would be a second, noisier line.
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}
