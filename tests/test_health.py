import time

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from config import health
from config.celery import app as celery_app

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def database_down():
    """Point the real connection at a place no database answers, then put it back."""
    original_settings = dict(connection.settings_dict)
    # SQLite's in-memory test database lives only as long as its open handle: set it aside.
    original_handle, connection.connection = connection.connection, None
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-directory/gatehouse.sqlite3"
    else:
        if original_handle is not None:
            original_handle.close()
            original_handle = None
        connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    yield
    connection.settings_dict.clear()
    connection.settings_dict.update(original_settings)
    connection.connection = original_handle


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_when_the_database_is_down(client, database_down):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}


@pytest.mark.django_db
def test_it_answers_503_when_the_cache_is_down(client):
    broken_cache = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": UNREACHABLE_REDIS,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    with override_settings(CACHES=broken_cache):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["ok"] is False


@pytest.mark.django_db
def test_it_answers_503_when_the_broker_is_down(client, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", UNREACHABLE_REDIS)
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


@pytest.mark.django_db
def test_without_a_broker_it_says_tasks_run_in_process(client):
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        body = client.get("/healthz").json()
    assert body["checks"]["broker"] == {"ok": True, "mode": "in-process (no broker configured)"}


def test_it_only_answers_get(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_it_answers_within_its_budget_when_the_broker_check_does_not(client, monkeypatch):
    def hung_broker():
        time.sleep(health.BUDGET_SECONDS + 1)
        return {"ok": True}

    monkeypatch.setattr(health, "check_broker", hung_broker)
    started = time.monotonic()
    response = client.get("/healthz")

    assert time.monotonic() - started < health.BUDGET_SECONDS + 0.5
    assert response.status_code == 503
    broker = response.json()["checks"]["broker"]
    assert broker["ok"] is False
    assert broker["error"].endswith("did not answer within 0.8 s")


@pytest.mark.django_db
def test_it_answers_503_while_migrations_are_unapplied(client, monkeypatch):
    # A web instance started before `migrate` ran: every page would be a 500 (the test database
    # is migrated, so the executor is made to see 2 missing; tests/test_probes.py uses a real empty one).
    monkeypatch.setattr(health, "_migrated", False, raising=False)
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets, clean_start=False: [None, None])
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {
        "ok": False,
        "error": "2 unapplied migrations",
        "unapplied_migrations": 2,
    }
