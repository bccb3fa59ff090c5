import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def production_environ(tmp_path) -> dict:
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "gatehouse.example.com",
        "DATABASE_URL": "postgres://gatehouse@127.0.0.1:1/gatehouse",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "EMAIL_URL": "smtp://127.0.0.1:1",
        "LOG_FILE": str(tmp_path / "app.log"),
    }
    for name in ("DEBUG", "ALLOW_CONSOLE_EMAIL_IN_PRODUCTION", "USE_X_FORWARDED_PROTO", "SECURE_SSL_REDIRECT"):
        environ.pop(name, None)
    return environ


def manage(environ, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = manage(production_environ(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_refuses_to_start_production_with_console_mail(tmp_path):
    environ = production_environ(tmp_path)
    environ["EMAIL_URL"] = "consolemail://"
    result = manage(environ, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured: EMAIL_URL gives django.core.mail.backends.console.EmailBackend" in result.stderr
