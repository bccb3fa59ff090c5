"""The probes: liveness (the process serves), readiness and the full dependency report.

- ``/livez`` (:func:`live`): this process answers HTTP. It touches no database, cache or broker,
  so an orchestrator restarts the container only when the process itself is stuck or gone.
- ``/readyz`` (:func:`ready`): this instance can serve pages. 503 unless the database answers AND
  has no unapplied migrations (a web instance started before ``migrate`` ran would answer 500 on
  every page). Redis (cache, broker) is reported but not fatal: without it the app degrades
  (config.cache falls back to a per-process cache, mail waits in the outbox), so the answer is
  200 with ``"status": "degraded"``; pulling every instance at once on a Redis blip would turn it
  into a full outage.
- ``/healthz`` (:func:`healthy`): for monitoring, not for load balancers. The same checks, but 503
  when any of them fails (Redis too), as it always has.

The migration plan is computed from the migration files and the database's ``django_migrations``
table; once it comes out empty this process remembers that (migrations are applied before new code
starts, never while it runs) and later probes only run ``SELECT 1``.

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
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
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


# Set once the database had no unapplied migration; never unset in this process.
_migrated = False


def unapplied_migrations(connection) -> int:
    """How many migrations on disk the database has not applied (0 once it has been seen at 0)."""
    global _migrated
    if _migrated:
        return 0
    executor = MigrationExecutor(connection)
    count = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    _migrated = count == 0
    return count


def check_database() -> dict:
    """The database answers ``SELECT 1`` and has every migration applied."""
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        unapplied = unapplied_migrations(connection)
    except Exception as exc:
        return _failure(exc)
    if unapplied:
        noun = "migration" if unapplied == 1 else "migrations"
        return {"ok": False, "error": f"{unapplied} unapplied {noun}", "unapplied_migrations": unapplied}
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


def _answer(status: str, checks: dict | None = None) -> JsonResponse:
    body = {"status": status} if checks is None else {"status": status, "checks": checks}
    return JsonResponse(body, status=503 if status == "unavailable" else 200)


def live() -> JsonResponse:
    """Liveness: 200 ``{"status": "ok"}`` whenever this process can answer; checks nothing else."""
    return _answer("ok")


def ready(checks: dict) -> JsonResponse:
    """Readiness: 503 "unavailable" unless the database is up and migrated; then 200, "ok" when
    the cache and broker are up too, else "degraded" (the failing ones named in ``checks``)."""
    if not checks["database"]["ok"]:
        return _answer("unavailable", checks)
    return _answer("ok" if all(check["ok"] for check in checks.values()) else "degraded", checks)


def healthy(checks: dict) -> JsonResponse:
    """The full report: 200 "ok" when every check passes, else 503 "unavailable"."""
    return _answer("ok" if all(check["ok"] for check in checks.values()) else "unavailable", checks)


# What each check means to a customer, in the order the status page lists them.
PUBLIC_NAMES = {
    "database": "Accounts, sign-in and subscriptions",
    "cache": "Sessions and page speed",
    "broker": "Email delivery",
}


def public_status(checks: dict) -> list[dict]:
    """The checks as the status page shows them: a name and whether it works; never an error text."""
    return [{"name": name, "ok": checks[key]["ok"]} for key, name in PUBLIC_NAMES.items()]
