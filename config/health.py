"""Liveness of what a request needs: the database, the cache and the Celery broker."""

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

from config.celery import app as celery_app


def _failure(exc: Exception) -> dict:
    # The class name is enough for an operator; messages can carry hosts or credentials.
    return {"ok": False, "error": type(exc).__name__}


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
        return _failure(exc)
    if getattr(cache, "degraded", False):  # config.cache: Redis is down, a memory cache stands in
        return {"ok": False, "error": "redis unavailable (degraded to a per-process cache)"}
    return {"ok": True} if ok else {"ok": False, "error": "value not read back"}


def check_broker() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "in-process (no broker configured)"}
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return _failure(exc)
    return {"ok": True}


def check_all() -> dict:
    return {"database": check_database(), "cache": check_cache(), "broker": check_broker()}


def as_response(checks: dict) -> JsonResponse:
    healthy = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503)
