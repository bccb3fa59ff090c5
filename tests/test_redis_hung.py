"""Redis hung (stopped, not refusing: connections open and nothing answers), as an outside probe found it.

A refused connection fails at once (tests/test_redis_down.py); a hung Redis turns every cache
read and task publish into a wait for a socket timeout. Here the production settings run in
gunicorn against a redis-server of the test's own, which is then stopped with SIGSTOP: sign-up
must still answer quickly with its mail kept in the outbox, /healthz must say Redis is down well
inside a load balancer's probe timeout, and once Redis answers again the mail goes out, once.

The time bounds are the behaviour under test. Measured on a loaded two-core machine, with Redis
hung: sign-up 1.0-1.1 s (0.3 s cache timeout, 0.5 s publish timeout, the sign-up's own work), a
password reset request 0.8 s and /healthz 0.5 s; before the fix 20.1 s, 17.7 s and 5.0 s.
"""

import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from mail import outbox
from mail.models import OutboundEmail
from tests.celery_worker import Worker, database_url, publishing_to, skip_or_fail, wait_until
from tests.servers import Gunicorn, RedisServer

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-and-unusual-passphrase-42"
SIGN_UP_BUDGET_SECONDS = 2
HEALTH_BUDGET_SECONDS = 1


@pytest.fixture
def redis(tmp_path):
    if connection.vendor != "postgresql":
        skip_or_fail("gunicorn cannot see the test's in-memory SQLite database: set DATABASE_URL")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def site(tmp_path, redis):
    """The site on that Redis (cache, rate limits and broker), as it runs: warm, its connections open."""
    (tmp_path / "mail").mkdir()
    env = {"DATABASE_URL": database_url(), "REDIS_URL": redis.url, "EMAIL_URL": f"filemail:///{tmp_path / 'mail'}"}
    server = Gunicorn(tmp_path, env)
    server.start()
    status, _, text, _ = server.request("GET", "/healthz")
    assert status == 200, text
    status, _, text, _ = register(server, "early")  # loads what sign-up needs, opens the broker's pool
    assert status == 201, text
    yield server
    server.stop()


def register(site, username: str):
    body = {"email": f"{username}@example.com", "username": username, "password": PASSWORD}
    return site.request("POST", "/api/register", body)


def test_it_signs_up_quickly_and_keeps_the_mail_while_redis_hangs(site, redis):
    redis.hang()
    status, _, text, seconds = register(site, "hung")

    assert status == 201, text
    assert seconds < SIGN_UP_BUDGET_SECONDS, f"sign-up took {seconds:.1f}s with Redis hung"
    waiting = OutboundEmail.objects.get(to=["hung@example.com"])
    assert waiting.sent_at is None
    logged = [line for line in site.log_lines() if line.get("message") == "task_enqueue_failed"]
    assert [line["task"] for line in logged] == ["mail.send_email"], "the failed publish is logged, once"


def test_it_answers_a_password_reset_request_quickly_and_keeps_the_mail_while_redis_hangs(site, redis):
    redis.hang()
    status, _, text, seconds = site.request("POST", "/api/forget-password", {"email": "early@example.com"})

    assert status == 202, text
    assert seconds < SIGN_UP_BUDGET_SECONDS, f"the reset request took {seconds:.1f}s with Redis hung"
    (reset,) = OutboundEmail.objects.filter(to=["early@example.com"]).exclude(pk=first_mail("early").pk)
    assert reset.sent_at is None


def first_mail(username: str) -> OutboundEmail:
    return OutboundEmail.objects.filter(to=[f"{username}@example.com"]).earliest("created_at")


def test_health_answers_503_naming_redis_within_a_second_while_redis_hangs(site, redis):
    redis.hang()
    status, _, text, seconds = site.request("GET", "/healthz")

    assert status == 503, text
    assert seconds < HEALTH_BUDGET_SECONDS, f"/healthz took {seconds:.1f}s with Redis hung"
    checks = json.loads(text)["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["cache"]["ok"] is False
    assert checks["broker"]["ok"] is False
    assert "redis" in checks["cache"]["error"].lower()
    assert "redis" in checks["broker"]["error"].lower()


def test_once_redis_answers_again_the_mail_kept_meanwhile_is_sent_once(site, redis, tmp_path):
    redis.hang()
    assert register(site, "patient")[0] == 201
    redis.resume()

    (tmp_path / "worker").mkdir()
    worker = Worker(tmp_path / "worker")
    worker.env.update(CELERY_BROKER_URL=redis.url, REDIS_URL=redis.url)
    worker.start()
    try:
        # Beat's resend sweep, a few minutes later: it finds the row whose publish timed out.
        with publishing_to(redis.url):
            outbox.resend_lost_mail(now=timezone.now() + timedelta(minutes=5))
        kept = OutboundEmail.objects.filter(to=["patient@example.com"])
        wait_until(lambda: kept.filter(sent_at__isnull=False).exists(), what="the worker to send")
        time.sleep(1)  # a second delivery of the same row (the publish Redis took late) would be sent by now
        sent = [message for message in worker.mails() if "To: patient@example.com" in message]
        assert len(sent) == 1, worker.log()[-2000:]
        assert "/accounts/confirm-email/" in sent[0]
    finally:
        worker.stop()
