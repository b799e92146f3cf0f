"""Configuration read from the environment.

`TANDEM_ENV` picks the class: ``production`` (the default, so a real deploy that
forgets to say is held to production rules), ``development`` or ``testing``.
"""

from __future__ import annotations

import os

# The development and test keys are published in this file: never good enough for real data.
DEVELOPMENT_SECRET = "dev-only-key-never-use-in-production"  # noqa: S105 -- refused in production
TESTING_SECRET = "test-only-key-0123456789abcdef-0123456789"  # noqa: S105 -- refused in production
WEAK_SECRETS = {
    "",
    "dev",
    "secret",
    "change-me",
    "changeme",
    "development",
    "tandem",
    DEVELOPMENT_SECRET,
    TESTING_SECRET,
}
MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The configuration is not safe to run with; the message says why in one line."""


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def database_url(url: str | None) -> str | None:
    """Accept the URLs hosting providers hand out and use the psycopg 3 driver."""
    if not url:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    ENV_NAME = "production"
    SECRET_KEY = os.environ.get("SECRET_KEY", "")
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    # hide_parameters: a failed statement's message (which reaches error logs) must
    # not carry the values it was writing — answers, notes, names.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    DEBUG = _bool("FLASK_DEBUG")

    # Sessions: a clinician's cookie never reaches scripts or other sites.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    # The __Host- prefix makes browsers refuse the cookie unless it is Secure, has
    # Path=/ and no Domain: no subdomain or plain-http page can plant or overwrite it.
    SESSION_COOKIE_NAME = "__Host-tandem"
    SESSION_COOKIE_PATH = "/"
    SESSION_COOKIE_DOMAIN = None
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    # Links in emails are built from this (e.g. https://tandem.example.org).
    BASE_URL = os.environ.get("BASE_URL", "")

    # Email: real SMTP when MAIL_SERVER is set; otherwise files in MAIL_OUTBOX.
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "587"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", True)
    MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
    MAIL_SENDER = os.environ.get("MAIL_SENDER", "Tandem <no-reply@localhost>")
    MAIL_OUTBOX = os.environ.get("MAIL_OUTBOX", "")
    # "Forgot password" emails leave off the request, so the answer takes as long for an
    # unknown address as for a known one.
    MAIL_IN_BACKGROUND = True

    # How long a clinician invitation link stays valid.
    CLINICIAN_INVITE_HOURS = int(os.environ.get("CLINICIAN_INVITE_HOURS", "72"))
    # How long a "forgot password" link stays valid (at most an hour).
    PASSWORD_RESET_MINUTES = 30

    # A clinician's session ends after this long without a request, and this long after sign-in.
    SESSION_IDLE_MINUTES = 30
    SESSION_MAX_HOURS = 12
    # After a right password, the second-factor code must follow within this time.
    TWO_FACTOR_PENDING_SECONDS = 300
    # This many wrong passwords or codes for one account within the window lock it for a while.
    SIGNIN_LOCK_FAILURES = 5
    SIGNIN_LOCK_WINDOW_MINUTES = 15
    SIGNIN_LOCK_MINUTES = 15

    # Fernet keys for free text at rest, newest first (see clinic/crypto.py).
    DATA_KEYS = os.environ.get("DATA_KEYS", "")
    # HMAC key of the audit trail's hash chain (clinic/audit.py); required in production.
    # Never change it: rows written under another key no longer verify. Development and
    # tests derive one from SECRET_KEY.
    AUDIT_KEY = os.environ.get("AUDIT_KEY", "")

    # How many reverse proxies (nginx, a load balancer) stand in front of Tandem and set
    # X-Forwarded-For/-Proto; 0 trusts none (then every request seems to come from the proxy).
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))

    # Rate limits (Flask-Limiter): shared through Redis when REDIS_URL is set (create_app
    # sets RATELIMIT_STORAGE_URI from it unless a config names another storage).
    REDIS_URL = os.environ.get("REDIS_URL", "")
    RATELIMIT_HEADERS_ENABLED = True
    # Redis is an optimisation, not a dependency of signing in or opening a link: while it is
    # unreachable, each process counts in its own memory (Flask-Limiter logs a warning) and goes
    # back to Redis once it answers again.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    # Opening partner links: enough for a household, too few to guess a 256-bit token.
    LINK_OPEN_LIMIT = os.environ.get("LINK_OPEN_LIMIT", "20 per minute;200 per day")
    # Per address, on the sign-in and second-factor forms, on clinicians' one-time links
    # (invitation and password reset, counted together) and on "forgot password".
    SIGNIN_LIMIT = os.environ.get("SIGNIN_LIMIT", "10 per minute;100 per hour")
    TWO_FACTOR_LIMIT = os.environ.get("TWO_FACTOR_LIMIT", "10 per minute;100 per hour")
    ACCOUNT_LINK_LIMIT = os.environ.get("ACCOUNT_LINK_LIMIT", "20 per minute;200 per day")
    PASSWORD_RESET_LIMIT = os.environ.get("PASSWORD_RESET_LIMIT", "5 per minute;20 per hour")

    # A CSRF token lives as long as the session that holds it: a partner without
    # JavaScript may keep one questionnaire page open for hours before saving.
    WTF_CSRF_TIME_LIMIT = None

    # Session-prep reports: the RQ queue (with REDIS_URL) or the in-process pool size.
    REPORT_QUEUE = os.environ.get("REPORT_QUEUE", "tandem-reports")
    REPORT_THREADS = int(os.environ.get("REPORT_THREADS", "2"))
    # A report not finished within this many seconds (a worker killed, a restart, Redis
    # down, a long backlog) shows as failed with "Try again".
    REPORT_JOB_TIMEOUT = int(os.environ.get("REPORT_JOB_TIMEOUT", "180"))

    # Bodies larger than this are refused before any view runs (answers are small).
    MAX_CONTENT_LENGTH = 256 * 1024

    # Questionnaire definitions; the shipped ones unless a practice keeps its own folder.
    INSTRUMENTS_FOLDER = os.environ.get("INSTRUMENTS_FOLDER") or None
    # Reliable change uses a practice's own estimate of a measure's alpha and SD (flask calibrate)
    # once this many partners' first answers give it a valid score; published figures always win.
    CALIBRATION_MIN_PARTNERS = int(os.environ.get("CALIBRATION_MIN_PARTNERS", "50"))


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:" + os.environ.get("PORT", "5000"))
    SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET)
    SESSION_COOKIE_SECURE = False
    # Plain http: a __Host- cookie would be refused by the browser.
    SESSION_COOKIE_NAME = "session"
    REMEMBER_COOKIE_SECURE = False
    PREFERRED_URL_SCHEME = "http"


class TestConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = TESTING_SECRET
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    BASE_URL = "http://localhost"
    SESSION_COOKIE_SECURE = False
    SESSION_COOKIE_NAME = "session"
    REMEMBER_COOKIE_SECURE = False
    PREFERRED_URL_SCHEME = "http"
    MAIL_SERVER = ""
    # Every test sees its messages when the request returns (none arrive in a later test);
    # tests/test_password_reset.py turns the background sender on to test it.
    MAIL_IN_BACKGROUND = False
    REDIS_URL = ""
    # Argon2 at full strength makes every sign-in in the suite slow; tests keep the
    # algorithm (argon2id) and cut the cost.
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 8 * 1024
    ARGON2_PARALLELISM = 1


CONFIGS = {
    "production": Config,
    "development": DevelopmentConfig,
    "testing": TestConfig,
}


def config_from_env() -> type[Config]:
    """The config class named by TANDEM_ENV (production unless it says otherwise)."""
    name = os.environ.get("TANDEM_ENV", "production").strip().lower()
    if name not in CONFIGS:
        raise ConfigError(f"TANDEM_ENV must be one of {', '.join(CONFIGS)}, not {name!r}.")
    return CONFIGS[name]


def weak_secret(secret: str) -> bool:
    """Too short, a published default, too few distinct characters, or a repeated pattern."""
    if len(secret) < MIN_SECRET_LENGTH or secret.lower() in WEAK_SECRETS or len(set(secret)) < 10:
        return True
    # "0123456789" * 4 or "abcd1234" * 5: a short piece repeated is not a random value.
    return any(
        secret == (secret[:size] * (len(secret) // size + 1))[: len(secret)] for size in range(1, len(secret) // 2 + 1)
    )


def check_production(config) -> None:
    """Refuse settings that would be unsafe with real client data."""
    if weak_secret(config.get("SECRET_KEY") or ""):
        raise ConfigError(
            f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
            "characters in production (python -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
    if config.get("DEBUG"):
        raise ConfigError("debug mode is on; it must be off in production (unset FLASK_DEBUG).")
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        raise ConfigError("DATABASE_URL must be set in production (e.g. postgresql://user@host/tandem).")
    from clinic.crypto import DataKeyError, keys_from_config

    try:
        keys_from_config(config)
    except DataKeyError as exc:
        raise ConfigError(str(exc)) from None
    if (config.get("SESSION_COOKIE_NAME") or "").startswith("__Host-") and not (
        config.get("SESSION_COOKIE_SECURE")
        and config.get("SESSION_COOKIE_PATH") == "/"
        and not config.get("SESSION_COOKIE_DOMAIN")
    ):
        raise ConfigError("a __Host- session cookie must be Secure, with Path=/ and no Domain.")
    if not (config.get("BASE_URL") or "").startswith("https://"):
        raise ConfigError(
            "BASE_URL must be the public https:// address of Tandem in production (used in emailed links)."
        )
    audit_key = (config.get("AUDIT_KEY") or "").strip()
    if len(audit_key) < MIN_SECRET_LENGTH or len(set(audit_key)) < 10 or audit_key == config.get("SECRET_KEY"):
        raise ConfigError(
            f"AUDIT_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} characters, other than "
            "SECRET_KEY, in production (python -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
