"""The Celery app. Settings come from Django's settings (the CELERY_ namespace).

Connections for writing (publishing a task from a request, a worker or beat, and /healthz's
probe) get CELERY_PUBLISH_SOCKET_TIMEOUT instead of the broker's transport timeouts: with a hung
Redis a publish must fail fast, since the outbox sweep publishes lost mail again. The worker's
consuming connection keeps CELERY_BROKER_TRANSPORT_OPTIONS.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class GatehouseCelery(Celery):
    def connection_for_write(self, url=None, **kwargs):
        timeout = self.conf.get("publish_socket_timeout")
        if timeout is not None:
            short = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
            kwargs["transport_options"] = {**short, **(kwargs.get("transport_options") or {})}
            kwargs.setdefault("connect_timeout", timeout)
        return super().connection_for_write(url, **kwargs)


app = GatehouseCelery("gatehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
