"""Liveness of what a request needs: the database, the cache and the Celery broker.

A load balancer gives the probe a few seconds, so the whole answer must come within
BUDGET_SECONDS even when Redis hangs (accepts connections, answers nothing): the cache check is
bounded by the cache's own socket timeout, and the broker check, bounded by the publish timeout
(config.celery), runs beside it in a thread instead of after it.
"""

import threading
import time
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

from config.celery import app as celery_app

BUDGET_SECONDS = 0.8


def _failure(exc: Exception, service: str | None = None) -> dict:
    # The class name is enough for an operator; messages can carry hosts or credentials.
    name = type(exc).__name__
    return {"ok": False, "error": f"{service} unavailable ({name})" if service else name}


def _kind(url, default: str) -> str:
    """What a service is, from its URL's scheme ("redis"); never its host or credentials."""
    url = url[0] if isinstance(url, list | tuple) and url else url
    return urlsplit(str(url or "")).scheme or default


def _broker_service() -> str:
    return _kind(celery_app.conf.broker_url, "broker")


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return _failure(exc)
    return {"ok": True}


def check_cache() -> dict:
    key, value = f"healthz:{uuid.uuid4().hex}", "1"
    try:
        cache.set(key, value, timeout=5)
        ok = cache.get(key) == value
        cache.delete(key)
    except Exception as exc:
        return _failure(exc, _kind(settings.CACHES["default"].get("LOCATION"), "cache"))
    if getattr(cache, "degraded", False):  # config.cache: Redis is down, a memory cache stands in
        return {"ok": False, "error": "redis unavailable (degraded to a per-process cache)"}
    return {"ok": True} if ok else {"ok": False, "error": "value not read back"}


def check_broker() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "in-process (no broker configured)"}
    try:
        # A new connection (not the publish pool's), tried once: kombu would wait 2 s per retry.
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0)
    except Exception as exc:
        return _failure(exc, _broker_service())
    return {"ok": True}


def _in_background(check):
    """Start ``check`` in a thread; returns a function that waits for its result until a deadline."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(check()), name="healthz-broker", daemon=True)
    thread.start()

    def outcome(deadline: float) -> dict:
        thread.join(max(0.0, deadline - time.monotonic()))
        return result or {"ok": False, "error": f"{_broker_service()} did not answer within {BUDGET_SECONDS} s"}

    return outcome


def check_all() -> dict:
    deadline = time.monotonic() + BUDGET_SECONDS
    broker = _in_background(check_broker)
    database, cache_state = check_database(), check_cache()
    return {"database": database, "cache": cache_state, "broker": broker(deadline)}


def as_response(checks: dict) -> JsonResponse:
    healthy = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503)
