"""The embedded SQLite database (`make run`) is set up for a web server: concurrent requests wait for
the one writer instead of failing with "database is locked". Runs on a database file of its own, so it
holds whichever database the suite runs on."""

import runpy
import threading
import time
from pathlib import Path

import pytest
from django.db import connections, transaction
from django.db.utils import ConnectionHandler

ALIAS = "sqlite_server"
SETTINGS = str(Path(__file__).resolve().parents[2] / "config" / "settings.py")


@pytest.fixture
def sqlite_settings(monkeypatch, tmp_path):
    """DATABASES["default"] as config/settings.py makes it with no DATABASE_URL, on a file in tmp_path."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DJANGO_ENV", raising=False)
    monkeypatch.setenv("LOG_FILE", str(tmp_path / "app.log"))
    database = runpy.run_path(SETTINGS)["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    return {**database, "NAME": str(tmp_path / "server.sqlite3")}


@pytest.fixture
def open_connection(sqlite_settings, django_db_blocker):
    """A new connection to that file, known to this thread as `connections[ALIAS]` (so that
    transaction.atomic(using=ALIAS) runs Django's own transaction code on it)."""
    opened = []

    def open_():
        connection = ConnectionHandler({"default": dict(sqlite_settings)})["default"]
        connections[ALIAS] = connection  # per thread: the handler keeps connections in thread-locals
        opened.append((threading.get_ident(), connection))
        return connection

    with django_db_blocker.unblock():  # not the suite's database: a file of this test's own
        yield open_
        for thread, connection in opened:
            if thread == threading.get_ident():  # the other threads closed theirs
                connection.close()
        if hasattr(connections._connections, ALIAS):
            del connections[ALIAS]


def test_it_opens_sqlite_in_wal_mode_with_a_busy_timeout(open_connection):
    connection = open_connection()
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert cursor.execute("PRAGMA busy_timeout").fetchone() == (20000,)
        assert cursor.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL: safe with WAL
    assert connection.transaction_mode == "IMMEDIATE"


def test_it_keeps_sqlite_options_away_from_postgresql(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://gatehouse@db.example.com:5432/gatehouse")
    monkeypatch.setenv("LOG_FILE", str(tmp_path / "app.log"))
    database = runpy.run_path(SETTINGS)["DATABASES"]["default"]
    assert "init_command" not in database.get("OPTIONS", {})
    assert "transaction_mode" not in database.get("OPTIONS", {})


def test_two_transactions_that_read_then_write_at_once_both_commit(open_connection):
    """A deferred transaction that has read cannot take the write lock while another holds it: SQLite
    answers "database is locked" at once, without waiting. IMMEDIATE transactions queue instead."""
    setup = open_connection()
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE counter (value INTEGER)")
        cursor.execute("INSERT INTO counter VALUES (0)")
    barrier = threading.Barrier(2)
    errors = []

    def increment():
        connection = open_connection()
        try:
            barrier.wait(timeout=10)
            with transaction.atomic(using=ALIAS), connection.cursor() as cursor:
                value = cursor.execute("SELECT value FROM counter").fetchone()[0]
                time.sleep(0.3)  # both have read before either writes
                cursor.execute("UPDATE counter SET value = %s", [value + 1])
        except Exception as error:  # the outcome the test reports
            errors.append(error)
        finally:
            connection.close()
            del connections[ALIAS]

    threads = [threading.Thread(target=increment) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    with setup.cursor() as cursor:
        assert cursor.execute("SELECT value FROM counter").fetchone() == (2,), "neither increment was lost"
