"""All of Redis down (cache, rate-limit counters and broker share it, as in Compose).

Sign-up still works: the cache degrades to a per-process one (config.cache), the mail waits in
the outbox, /healthz says what is down, and the mail goes out once Redis is back.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from config import cache as degrading
from mail import outbox
from mail.models import OutboundEmail
from tests.celery_worker import publishing_to
from tests.test_celery_worker import closed_port_url, sign_up

pytestmark = pytest.mark.django_db


def redis_cache_at(url: str) -> dict:
    return {
        "default": {
            "BACKEND": "config.cache.DegradingRedisCache",
            "LOCATION": url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }


@pytest.fixture
def redis_down():
    url = closed_port_url()
    with override_settings(CACHES=redis_cache_at(url)), publishing_to(url):
        yield


def test_sign_up_succeeds_and_its_mail_waits(client, committing, redis_down, caplog):
    with committing():
        response = sign_up(client, "erin")
    assert response.status_code == 302
    assert OutboundEmail.objects.get().sent_at is None
    assert "cache_unavailable" in caplog.text


def test_health_reports_the_cache_and_the_broker_down(client, redis_down):
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        checks = client.get("/healthz").json()["checks"]
    assert checks["cache"]["ok"] is False
    assert checks["broker"]["ok"] is False


def test_once_redis_is_back_the_mail_goes_out_once(client, committing):
    url = closed_port_url()
    with override_settings(CACHES=redis_cache_at(url)), publishing_to(url), committing():
        sign_up(client, "frank")
    assert mail.outbox == []

    later = timezone.now() + timedelta(minutes=5)
    outbox.resend_lost_mail(now=later)
    outbox.resend_lost_mail(now=later + timedelta(hours=1))
    assert [message.to for message in mail.outbox] == [["frank@example.com"]]


def test_the_cache_tries_redis_again_after_a_few_seconds(monkeypatch, redis_down):
    clock = [1000.0]
    monkeypatch.setattr(degrading.time, "monotonic", lambda: clock[0])
    cache.set("k", "v")  # Redis refused: the memory cache took it
    assert cache.degraded
    assert cache.get("k") == "v"

    clock[0] += degrading.RETRY_AFTER_SECONDS + 1
    assert not cache.degraded, "the next call goes to Redis first"
