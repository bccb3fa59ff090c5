"""Billing tasks: interfaces that load by id and call a domain function; safe to run twice."""

import logging

from celery import shared_task

from billing import duplicates
from billing.stripe_gateway import BillingUnavailable

logger = logging.getLogger("gatehouse.tasks")


@shared_task(
    name="billing.resolve_duplicate_subscription",
    autoretry_for=(BillingUnavailable,),
    retry_backoff=True,
    retry_backoff_max=900,
    max_retries=10,
)
def resolve_duplicate_subscription(subscription_id: int) -> None:
    result = duplicates.resolve(subscription_id)
    logger.info(
        "task",
        extra={"task": "billing.resolve_duplicate_subscription", "subscription": subscription_id, "result": result},
    )
