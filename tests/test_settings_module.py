"""config/settings.py read fresh under a given environment (settings are fixed at import)."""

import runpy
import secrets
from pathlib import Path

import pytest
from django.contrib.auth.hashers import identify_hasher, make_password
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from billing import stripe_gateway

SETTINGS = str(Path(__file__).resolve().parents[1] / "config" / "settings.py")
VARIABLES = (
    "DJANGO_ENV",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "DEBUG",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "SECURE_SSL_REDIRECT",
    "STRIPE_SECRET_KEY",
    "EMAIL_URL",
    "ALLOW_CONSOLE_EMAIL_IN_PRODUCTION",
    "DB_CONNECT_TIMEOUT",
)


@pytest.fixture
def read_settings(monkeypatch, tmp_path):
    def read(**environ):
        for name in VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("LOG_FILE", str(tmp_path / "app.log"))
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(SETTINGS)

    return read


def production(**overrides):
    environ = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "gatehouse.example.com",
        "DATABASE_URL": "postgres://gatehouse@db.example.com:5432/gatehouse",
        "REDIS_URL": "redis://cache.example.com:6379/0",
        "EMAIL_URL": "smtp+tls://gatehouse:secret@smtp.example.com:587",
    }
    environ.update(overrides)
    return {name: value for name, value in environ.items() if value is not None}


def test_the_embedded_default_needs_no_environment(read_settings):
    settings = read_settings()
    assert settings["DEBUG"] is True
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["CELERY_TASK_ALWAYS_EAGER"] is True
    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    with override_settings(STRIPE_SECRET_KEY=settings["STRIPE_SECRET_KEY"]):
        assert stripe_gateway.is_configured() is False


def test_production_starts_with_everything_it_needs(read_settings):
    settings = read_settings(**production())
    assert settings["DEBUG"] is False
    assert settings["ALLOWED_HOSTS"] == ["gatehouse.example.com"]
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (settings["EMAIL_HOST"], settings["EMAIL_PORT"]) == ("smtp.example.com", 587)
    assert settings["EMAIL_USE_TLS"] is True


@pytest.mark.parametrize(
    "email_url",
    [None, "consolemail://", "memorymail://", "dummymail://", "filemail:///tmp/gatehouse-mail"],
    ids=["unset", "console", "locmem", "dummy", "filebased"],
)
def test_it_refuses_to_start_production_with_a_mail_backend_that_delivers_nothing(read_settings, email_url):
    # Console mail in production puts password-reset and sign-in links in the log.
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        read_settings(**production(EMAIL_URL=email_url))


def test_production_takes_console_mail_when_told_so_explicitly(read_settings):
    settings = read_settings(**production(EMAIL_URL="consolemail://", ALLOW_CONSOLE_EMAIL_IN_PRODUCTION="True"))
    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_the_console_mail_permission_must_be_a_boolean(read_settings):
    with pytest.raises(ImproperlyConfigured, match="ALLOW_CONSOLE_EMAIL_IN_PRODUCTION must be a boolean"):
        read_settings(**production(EMAIL_URL="consolemail://", ALLOW_CONSOLE_EMAIL_IN_PRODUCTION="sure"))
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        read_settings(**production(EMAIL_URL="consolemail://", ALLOW_CONSOLE_EMAIL_IN_PRODUCTION="False"))


def test_development_keeps_console_mail_by_default(read_settings):
    assert read_settings()["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"])
def test_production_refuses_to_start_without(read_settings, missing):
    with pytest.raises(ImproperlyConfigured, match=missing):
        read_settings(**production(**{missing: None}))


@pytest.mark.parametrize(
    "weak_key",
    [
        "django-insecure-" + "x1y2" * 20,
        "too-short-for-production",
        "a" * 80,
    ],
)
def test_production_refuses_a_default_or_weak_secret_key(read_settings, weak_key):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        read_settings(**production(SECRET_KEY=weak_key))


def test_development_keeps_a_generated_key_outside_the_repository(read_settings):
    first, second = read_settings()["SECRET_KEY"], read_settings()["SECRET_KEY"]
    assert first == second
    assert len(first) >= 50


def test_empty_variables_count_as_unset(read_settings):
    settings = read_settings(DB_CONN_MAX_AGE="", LOG_LEVEL="", CELERY_BROKER_URL="", DEBUG="")
    assert settings["DATABASES"]["default"]["CONN_MAX_AGE"] == 0
    assert settings["LOG_LEVEL"] == "INFO"
    assert settings["DEBUG"] is True


def test_production_reads_the_secret_key_from_a_file(read_settings, tmp_path):
    key = secrets.token_urlsafe(64)
    (tmp_path / "secret").write_text(key)
    settings = read_settings(**production(SECRET_KEY=None, SECRET_KEY_FILE=str(tmp_path / "secret")))
    assert settings["SECRET_KEY"] == key


def test_production_refuses_debug_and_wildcard_hosts(read_settings):
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        read_settings(**production(DEBUG="True"))
    with pytest.raises(ImproperlyConfigured, match="ALLOWED_HOSTS"):
        read_settings(**production(ALLOWED_HOSTS="*"))


def test_a_boolean_that_is_not_a_boolean_is_an_error(read_settings):
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be a boolean"):
        read_settings(DEBUG="maybe")


def test_an_unknown_environment_name_is_an_error(read_settings):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_ENV"):
        read_settings(DJANGO_ENV="prod")


def test_production_turns_on_hsts_for_a_year_and_secure_cookies(read_settings):
    settings = read_settings(**production())
    assert settings["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert settings["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["CSRF_COOKIE_SECURE"] is True
    assert settings["SECURE_SSL_REDIRECT"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True


def test_the_first_password_hasher_is_argon2(read_settings):
    # The test settings put a fast hasher first; the real settings must not.
    for environ in ({}, production()):
        hashers = read_settings(**environ)["PASSWORD_HASHERS"]
        assert hashers[0] == "accounts.hashers.Argon2idHasher"


def test_the_argon2_hasher_uses_rfc_9106_cost_in_one_lane():
    from django.contrib.auth.hashers import Argon2PasswordHasher

    from accounts.hashers import Argon2idHasher

    assert issubclass(Argon2idHasher, Argon2PasswordHasher)
    assert (Argon2idHasher.time_cost, Argon2idHasher.memory_cost, Argon2idHasher.parallelism) == (3, 65536, 1)
    encoded = Argon2idHasher().encode("a-long-and-unusual-passphrase-42", Argon2idHasher().salt())
    assert "$v=19$m=65536,t=3,p=1$" in encoded


def test_a_hash_with_djangos_default_argon2_cost_still_verifies_and_is_upgraded(settings):
    from django.contrib.auth.hashers import Argon2PasswordHasher, check_password

    settings.PASSWORD_HASHERS = ["accounts.hashers.Argon2idHasher"]
    old = Argon2PasswordHasher().encode("a-long-and-unusual-passphrase-42", Argon2PasswordHasher().salt())
    upgraded = []

    assert check_password("a-long-and-unusual-passphrase-42", old, setter=upgraded.append)
    assert len(upgraded) == 1  # the setter got the plain password to re-hash with the new cost


def test_argon2_is_installed_and_hashes():
    encoded = make_password("a-long-and-unusual-passphrase-42", hasher="argon2")
    assert identify_hasher(encoded).algorithm == "argon2"
    assert encoded.startswith("argon2$argon2id$")


def test_billing_is_configured_only_with_a_stripe_key(read_settings):
    with override_settings(STRIPE_SECRET_KEY=read_settings(STRIPE_SECRET_KEY="sk_test_123")["STRIPE_SECRET_KEY"]):
        assert stripe_gateway.is_configured() is True


def test_a_hung_postgresql_is_given_up_on_after_a_few_seconds(read_settings):
    assert read_settings(**production())["DATABASES"]["default"]["OPTIONS"] == {"connect_timeout": 5}
    assert read_settings(**production(DB_CONNECT_TIMEOUT="2"))["DATABASES"]["default"]["OPTIONS"] == {
        "connect_timeout": 2
    }


def test_it_logs_to_stdout_only_unless_log_file_is_set(read_settings, tmp_path):
    # An empty LOG_FILE (as Compose passes `LOG_FILE=`) is unset: the image's read-only root
    # filesystem has nowhere to write a file.
    for settings in (read_settings(LOG_FILE="", **production()), read_settings(LOG_FILE="")):
        assert settings["LOG_FILE"] == ""
        assert list(settings["LOGGING"]["handlers"]) == ["stdout"]
        assert settings["LOGGING"]["root"]["handlers"] == ["stdout"]

    settings = read_settings(LOG_FILE=str(tmp_path / "gatehouse.log"), **production())
    assert settings["LOGGING"]["handlers"]["file"]["filename"] == str(tmp_path / "gatehouse.log")
    assert settings["LOGGING"]["root"]["handlers"] == ["stdout", "file"]


def test_it_keeps_only_hashed_static_files_in_production(read_settings):
    assert read_settings(**production())["WHITENOISE_KEEP_ONLY_HASHED_FILES"] is True
    assert read_settings()["WHITENOISE_KEEP_ONLY_HASHED_FILES"] is False
