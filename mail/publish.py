"""Publishing Celery tasks: the one place that says "a broker outage is logged, never raised".

Whatever a task reports is already in the database when it is published (an outbox row, an
access record, a duplicate to resolve), and a beat sweep finds work whose task never arrived.
So a publish that fails is logged and reported, never retried inline: a hung broker must not
hold a request.
"""

import logging
from functools import partial

from django.db import transaction

logger = logging.getLogger("gatehouse.tasks")


def publish(task, *args, **kwargs) -> bool:
    """Send ``task`` to the broker now; False (and one log line) if the broker did not take it."""
    try:
        task.delay(*args, **kwargs)
    except Exception:
        logger.warning("task_enqueue_failed", extra={"task": task.name}, exc_info=True)
        return False
    return True


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Publish ``task`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(publish, task, *args, **kwargs), robust=True)
