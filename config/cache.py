"""The Redis cache, degrading to a per-process memory cache while Redis is unreachable.

Redis is the cache, the rate-limit counter store and the Celery broker. When it is down, plain
django-redis raises on every cache call, and allauth's rate limits (which lock and count in the
cache) turn every sign-up and sign-in into a 500, although the database and the mail outbox could
serve them. With this backend those calls use a local-memory cache instead, as `make run` does:
rate limits count per process until Redis is back (neither off nor failing every request). The
outage is logged once per retry window and /healthz still reports the cache as down (``degraded``).
"""

import logging
import time

from django.core.cache.backends.locmem import LocMemCache
from django_redis.cache import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("gatehouse.cache")

# After a failure, Redis is tried again this many seconds later (not on every call of every request).
RETRY_AFTER_SECONDS = 5


class DegradingRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._fallback = LocMemCache(f"gatehouse-redis-fallback-{server}", {"TIMEOUT": params.get("TIMEOUT", 300)})
        self._down_until = 0.0

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self._down_until

    def _call(self, name: str, *args, **kwargs):
        if not self.degraded:
            try:
                return getattr(super(), name)(*args, **kwargs)
            # django-redis re-raises redis-py's own error when it does not ignore exceptions.
            except (RedisConnectionError, RedisTimeoutError) as error:
                self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
                logger.warning("cache_unavailable", extra={"error": type(error).__name__})
        return getattr(self._fallback, name)(*args, **kwargs)


def _degrading(name: str):
    def method(self, *args, **kwargs):
        return self._call(name, *args, **kwargs)

    method.__name__ = name
    return method


for _name in (
    "add",
    "get",
    "set",
    "touch",
    "delete",
    "get_many",
    "set_many",
    "delete_many",
    "has_key",
    "incr",
    "decr",
    "clear",
):
    setattr(DegradingRedisCache, _name, _degrading(_name))
