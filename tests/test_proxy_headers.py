"""Proxy headers are trusted only from FORWARDED_ALLOW_IPS: the image's gunicorn, run for real.

Each test starts gunicorn with the Dockerfile's own command line (only the bind address and the
worker count changed) under production settings, and sends `X-Forwarded-Proto: https` from
127.0.0.1. Django's answer says whether it took the request for HTTPS: production redirects plain
HTTP to https (SECURE_SSL_REDIRECT) and sends Strict-Transport-Security only over HTTPS.
The requests go to /api/..., whose 404 is JSON, so no database, cache or collected static file is
needed (the database and Redis URLs point at closed ports).
"""

import http.client
import json
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
HOST = "gatehouse.example.com"


def dockerfile_cmd() -> list[str]:
    """The image's CMD as an argv list (exec form, or `sh -c "exec ..."` with ${VAR:-default} expanded)."""
    text = (ROOT / "Dockerfile").read_text()
    [line] = [line for line in text.splitlines() if line.startswith("CMD ")]
    argv = json.loads(line[len("CMD ") :])
    if argv[:2] == ["sh", "-c"]:
        command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m[1], m[2]), argv[2])
        argv = shlex.split(command)
        if argv[0] == "exec":
            argv = argv[1:]
    return argv


def production_environ(tmp_path, **overrides) -> dict:
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "FORWARDED_", "SECURE_", "USE_X_"))
    }
    environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS=HOST,
        DATABASE_URL="postgres://gatehouse@127.0.0.1:1/gatehouse",
        REDIS_URL="redis://127.0.0.1:1/0",
        EMAIL_URL="smtp://127.0.0.1:1",
        LOG_FILE=str(tmp_path / "app.log"),
        WEB_CONCURRENCY="1",
    )
    environ.update(overrides)
    return environ


@contextmanager
def image_gunicorn(tmp_path, **environ):
    argv = dockerfile_cmd()
    assert Path(argv[0]).name == "gunicorn", argv
    port = free_port()
    command = [str(Path(sys.executable).with_name("gunicorn")), *argv[1:], f"--bind=127.0.0.1:{port}", "--workers=1"]
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            command, cwd=ROOT, env=production_environ(tmp_path, **environ), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def get(port: int, path: str, headers: dict) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Host": HOST, **headers})
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def test_it_ignores_a_forwarded_proto_from_a_peer_that_is_not_a_configured_proxy(tmp_path):
    with image_gunicorn(tmp_path, FORWARDED_ALLOW_IPS="10.9.9.9") as port:
        response = get(port, "/api/no-such-endpoint", {"X-Forwarded-Proto": "https"})
    # Plain HTTP in production: redirected to https, and no HSTS (Django sends it only over HTTPS).
    assert response.status == 301
    assert response.headers["Location"] == f"https://{HOST}/api/no-such-endpoint"
    assert response.headers["Strict-Transport-Security"] is None


def test_it_ignores_it_even_when_django_is_told_to_read_the_header(tmp_path):
    # USE_X_FORWARDED_PROTO=True makes Django read HTTP_X_FORWARDED_PROTO itself; gunicorn hands
    # that header on from any peer, so the image's config drops it from untrusted ones.
    with image_gunicorn(tmp_path, FORWARDED_ALLOW_IPS="10.9.9.9", USE_X_FORWARDED_PROTO="True") as port:
        response = get(port, "/api/no-such-endpoint", {"X-Forwarded-Proto": "https"})
    assert response.status == 301
    assert response.headers["Strict-Transport-Security"] is None


def test_it_trusts_the_forwarded_proto_of_a_configured_proxy(tmp_path):
    with image_gunicorn(tmp_path, FORWARDED_ALLOW_IPS="10.9.9.9,127.0.0.0/8") as port:
        secure = get(port, "/api/no-such-endpoint", {"X-Forwarded-Proto": "https"})
        plain = get(port, "/api/no-such-endpoint", {})
    assert secure.status == 404
    assert json.loads(secure.body) == {"detail": "Not found."}
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # The proxy's plain-HTTP requests are still redirected.
    assert plain.status == 301


def test_the_default_trusts_only_loopback(tmp_path):
    with image_gunicorn(tmp_path) as port:
        response = get(port, "/api/no-such-endpoint", {"X-Forwarded-Proto": "https"})
    assert response.status == 404
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_the_image_runs_gunicorn_with_the_repository_config():
    argv = dockerfile_cmd()
    assert argv[:3] == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert argv[-1] == "config.wsgi:application"
    # The proxy trust comes from the config file (FORWARDED_ALLOW_IPS) only.
    assert not any("forwarded" in arg for arg in argv)


def test_compose_passes_the_same_proxy_variable_to_every_app_service():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("web", "worker", "beat", "migrate"):
        environment = compose["services"][name]["environment"]
        assert environment["FORWARDED_ALLOW_IPS"] == "${FORWARDED_ALLOW_IPS:-127.0.0.1,::1}", name
    assert "FORWARDED_ALLOW_IPS=" in (ROOT / ".env.example").read_text()
