"""The orchestrator's probes: /livez (the process serves) and /readyz (database up and migrated).

The first tests use Django's test client; the rest start the image's gunicorn (the Dockerfile's
command line, tests/test_proxy_headers.py) under production settings, because what they are about,
host validation, the https redirect and a database nobody migrated, happens only there.
"""

import http.client
import json
import secrets
import subprocess
import sys
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import override_settings

from config import health
from tests.test_health import database_down  # noqa: F401 - fixture
from tests.test_proxy_headers import ROOT, image_gunicorn, production_environ
from tests.test_redis_down import redis_down  # noqa: F401 - fixture

HOST = "gatehouse.example.com"
INSTANCE_IP = "10.1.2.3"


@pytest.fixture
def not_yet_seen_migrated(monkeypatch):
    """This process has not yet seen the database fully migrated (as in a fresh gunicorn worker)."""
    monkeypatch.setattr(health, "_migrated", False)


# --- in-process -------------------------------------------------------------------------------


def test_liveness_touches_no_database_cache_or_broker(client, monkeypatch):
    # No django_db mark: a database query here would raise.
    def must_not_run():
        raise AssertionError("liveness ran a dependency check")

    for name in ("check_database", "check_cache", "check_broker", "check_all"):
        monkeypatch.setattr(health, name, must_not_run)
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
@pytest.mark.parametrize("probe", ["/readyz", "/healthz"])
def test_it_is_ready_when_everything_is_up(client, probe):
    response = client.get(probe)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_with_redis_down_it_is_live_and_ready_but_degraded_naming_redis(client, redis_down):  # noqa: F811
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        live = client.get("/livez")
        ready = client.get("/readyz")
    assert live.status_code == 200
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["cache"]["error"].startswith("redis unavailable")
    assert body["checks"]["broker"] == {"ok": False, "error": "redis unavailable (OperationalError)"}


@pytest.mark.django_db(transaction=True)
def test_with_the_database_unreachable_it_is_live_but_not_ready(client, database_down):  # noqa: F811
    assert client.get("/livez").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}


@pytest.mark.django_db
def test_it_reads_the_migration_plan_only_until_it_has_seen_it_empty(
    client, monkeypatch, not_yet_seen_migrated, django_assert_num_queries
):
    plans = []
    original = health.MigrationExecutor

    def counting_executor(*args, **kwargs):
        plans.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(health, "MigrationExecutor", counting_executor)
    assert client.get("/readyz").status_code == 200
    # Later probes: SELECT 1 (the database check) and nothing else; the cache is not the database.
    with django_assert_num_queries(1):
        assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert len(plans) == 1


@pytest.mark.django_db
def test_it_keeps_checking_while_migrations_are_missing(client, monkeypatch, not_yet_seen_migrated):
    missing = [3]

    class Executor:
        def __init__(self, connection):
            self.loader = MigrationLoader(None, ignore_no_migrations=True)

        def migration_plan(self, targets):
            return [None] * missing[0]

    monkeypatch.setattr(health, "MigrationExecutor", Executor)
    first = client.get("/readyz")
    assert first.status_code == 503
    assert first.json()["checks"]["database"] == {
        "ok": False,
        "error": "3 unapplied migrations",
        "unapplied_migrations": 3,
    }
    missing[0] = 0  # `migrate` has run meanwhile
    assert client.get("/readyz").status_code == 200


def test_a_head_probe_gets_the_status_without_a_body(client):
    response = client.head("/livez")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.django_db
def test_other_methods_and_paths_take_the_normal_route(client):
    assert client.post("/livez").status_code == 405
    assert client.post("/readyz").status_code == 405
    assert client.get("/livez/").status_code == 404


# --- the image's gunicorn ---------------------------------------------------------------------


def get(port: int, path: str, host: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Host": host})
    response = conn.getresponse()
    answer = response.status, dict(response.headers), response.read()
    conn.close()
    return answer


def postgres_url(name: str) -> str:
    params = connection.settings_dict
    credentials = quote(params["USER"] or "", safe="")
    if params["PASSWORD"]:
        credentials += ":" + quote(params["PASSWORD"], safe="")
    return f"postgres://{credentials}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{name}"


needs_postgres = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the server needs a database another process can open (the SQLite test database is in memory)",
)


@pytest.fixture
def migrated_database_url(db):
    """The test database (migrated by pytest-django), as another process reaches it."""
    return postgres_url(connection.settings_dict["NAME"])


@pytest.fixture
def empty_database_url(tmp_path):
    """A database nobody has migrated: a fresh PostgreSQL database (dropped afterwards), or a new
    SQLite file when the suite runs on SQLite."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    import psycopg

    params = connection.settings_dict
    name = f"gh_probe_{secrets.token_hex(4)}"
    admin = {"host": params["HOST"] or "127.0.0.1", "port": params["PORT"] or 5432, "user": params["USER"]}
    if params["PASSWORD"]:
        admin["password"] = params["PASSWORD"]
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url(name)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def served_environ(tmp_path, database_url: str, **overrides) -> dict:
    """Production settings with a real database and, when the suite has one, the real Redis."""
    redis_url = settings.REDIS_URL or "redis://127.0.0.1:1/0"
    return production_environ(tmp_path, ALLOWED_HOSTS=HOST, DATABASE_URL=database_url, REDIS_URL=redis_url, **overrides)


def test_an_unmigrated_database_is_live_but_not_ready_and_says_how_many_migrations_are_missing(
    tmp_path, empty_database_url
):
    expected = len(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)
    with image_gunicorn(tmp_path, **served_environ(tmp_path, empty_database_url)) as port:
        live = get(port, "/livez", HOST)
        ready = get(port, "/readyz", HOST)
        report = get(port, "/healthz", HOST)
    assert live[0] == 200
    assert ready[0] == 503, ready
    body = json.loads(ready[2])
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {
        "ok": False,
        "error": f"{expected} unapplied migrations",
        "unapplied_migrations": expected,
    }
    # Before the split, /healthz answered 200 here while every page was a 500.
    assert report[0] == 503
    assert json.loads(report[2])["checks"]["database"]["unapplied_migrations"] == expected


@needs_postgres
def test_probes_answer_whatever_host_the_orchestrator_sends_while_pages_still_refuse_it(
    tmp_path, migrated_database_url
):
    with image_gunicorn(tmp_path, **served_environ(tmp_path, migrated_database_url)) as port:
        live = get(port, "/livez", INSTANCE_IP)
        ready = get(port, "/readyz", f"{INSTANCE_IP}:8000")
        page = get(port, "/accounts/login/", INSTANCE_IP)
        report = get(port, "/healthz", INSTANCE_IP)
    assert live[0] == 200, live
    assert ready[0] == 200, ready
    assert json.loads(ready[2])["status"] == ("ok" if settings.REDIS_URL else "degraded")
    # Host validation still holds for everything else.
    assert page[0] == 400
    assert report[0] == 400


@needs_postgres
def test_a_plain_http_probe_is_not_redirected_to_https(tmp_path, migrated_database_url):
    # Production redirects plain HTTP (SECURE_SSL_REDIRECT defaults to True); a probe must not be.
    with image_gunicorn(tmp_path, **served_environ(tmp_path, migrated_database_url)) as port:
        live = get(port, "/livez", INSTANCE_IP)
        ready = get(port, "/readyz", HOST)
        page = get(port, "/accounts/login/", HOST)
    assert live[0] == 200
    assert ready[0] == 200, ready
    assert page[0] == 301
    assert page[1]["Location"] == f"https://{HOST}/accounts/login/"


def dockerfile_healthcheck() -> list[str]:
    """The image's HEALTHCHECK command (exec form) as an argv list."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("HEALTHCHECK "))
    text = ""
    for line in lines[start:]:
        text += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            break
    return json.loads(text[text.index("CMD ") + len("CMD ") :])


def test_the_image_healthcheck_passes_when_the_hosts_come_from_allowed_hosts_file(tmp_path):
    hosts = tmp_path / "allowed_hosts"
    hosts.write_text(HOST)
    environ = production_environ(tmp_path, ALLOWED_HOSTS_FILE=str(hosts))
    del environ["ALLOWED_HOSTS"]
    argv = dockerfile_healthcheck()
    assert argv[0] == "python"
    with image_gunicorn(tmp_path, **environ) as port:
        check = [sys.executable, *(arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in argv[1:])]
        result = subprocess.run(check, env=environ, capture_output=True, text=True, timeout=30)  # noqa: S603
    # The database and Redis URLs point at closed ports: liveness does not care.
    assert result.returncode == 0, result.stderr


def test_the_image_and_compose_check_liveness():
    import yaml

    assert "/livez" in " ".join(dockerfile_healthcheck())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "/livez" in " ".join(compose["services"]["web"]["healthcheck"]["test"])
