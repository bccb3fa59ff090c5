"""The accounts app's periodic work; each task calls one domain function."""

import logging

from celery import shared_task

from accounts import housekeeping

logger = logging.getLogger("gatehouse.tasks")


@shared_task(name="accounts.delete_expired_credentials")
def delete_expired_credentials() -> None:
    """Beat, daily: expired refresh tokens, API logins, login codes and social hand-offs."""
    counts = housekeeping.delete_expired_credentials()
    logger.info("task", extra={"task": "accounts.delete_expired_credentials", "result": "done", **counts})
