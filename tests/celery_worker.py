"""A real Celery worker for tests: `celery -A config worker` as a subprocess on the real Redis.

The worker runs the production settings module (config.settings) pointed by environment at the
test database, the test's broker (REDIS_URL) and a file-based mail backend in a temporary
directory, so a test can read what it sent. It only sees committed rows: use it from
``django_db(transaction=True)`` tests. Without REDIS_URL (or on SQLite, whose test database is
in memory) the tests that need it skip with the reason, unless GATEHOUSE_REQUIRE_POSTGRES=1 (CI):
then they fail. No other worker may consume from REDIS_URL's database meanwhile (it would take the
test's tasks to another database): give the tests a Redis database of their own.
"""

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from config.celery import app

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 60


def skip_or_fail(reason: str):
    if os.environ.get("GATEHOUSE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"GATEHOUSE_REQUIRE_POSTGRES=1 but the real-worker tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def require_redis_and_postgres():
    if not os.environ.get("REDIS_URL"):
        skip_or_fail("REDIS_URL is not set: the real Celery worker needs Redis as its broker (CI sets it)")
    if connection.vendor != "postgresql":
        skip_or_fail("the worker process cannot see the test's in-memory SQLite database: set DATABASE_URL")


def database_url() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    def __init__(self, tmp: Path):
        self.mail_dir = tmp / "mail"
        self.mail_dir.mkdir()
        self.output = tmp / "worker.out"
        self.process = None
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_ENV": "development",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": app.conf.broker_url,
            # Four slashes: an absolute path for django-environ's filemail:// scheme.
            "EMAIL_URL": f"filemail:///{self.mail_dir}",
            "LOG_FILE": str(tmp / "worker.log"),
        }

    def start(self):
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-l", "info"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test-{uuid.uuid4().hex}@%h"]
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_SECONDS
        while " ready." not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the Celery worker did not start:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def mails(self) -> list[str]:
        """Every message the worker sent, as text (the file backend writes one file per connection)."""
        separator = "\n" + "-" * 79 + "\n"
        texts = [path.read_text() for path in sorted(self.mail_dir.iterdir())]
        return [message for text in texts for message in text.split(separator) if message.strip()]


@contextmanager
def publishing_to(broker_url: str | None = None):
    """Tasks from this process go to a broker (the test settings run them eagerly otherwise).

    With a broker_url, this process publishes there instead: a closed port is a broker that is down.
    """
    saved = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager = False
    # Always a fresh connection: the autouse cache.clear() FLUSHes the Redis database the broker
    # shares, bindings included, and kombu re-declares them only on a connection it has not used.
    _switch_broker(broker_url or saved[1])
    try:
        yield
    finally:
        app.conf.task_always_eager = saved[0]
        _switch_broker(saved[1])


def _switch_broker(url: str):
    # Celery caches its connection and producer pools on first use; drop them so the next
    # publish connects to the new URL (kombu keeps the pools per URL, so switching back reuses them).
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.broker_url = url


def wait_until(condition, *, timeout: float = 30, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
