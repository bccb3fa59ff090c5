"""Billing tasks: interfaces that load by id (beat's sweeps take none) and call a domain function; safe to run twice."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from billing import duplicates, sweeps
from billing.exceptions import BillingUnavailable

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


# Runs every 5 minutes: finishes well inside that, and each batch commits, so a run stopped by
# the time limit leaves finished batches done and the next run carries on.
@shared_task(name="billing.sweep_expired_subscriptions", soft_time_limit=240, time_limit=270)
def sweep_expired_subscriptions() -> None:
    try:
        report = sweeps.sweep_expired_subscriptions(resolve_duplicate=resolve_duplicate_subscription)
    except SoftTimeLimitExceeded:
        logger.warning("task", extra={"task": "billing.sweep_expired_subscriptions", "result": "time_limit"})
        return
    logger.info("task", extra={"task": "billing.sweep_expired_subscriptions", "result": "done", **report.as_log()})


@shared_task(name="billing.retry_unresolved_duplicates")
def retry_unresolved_duplicates() -> None:
    dispatched = sweeps.retry_unresolved_duplicates(resolve_duplicate=resolve_duplicate_subscription)
    extra = {"task": "billing.retry_unresolved_duplicates", "result": "done", "dispatched": dispatched}
    logger.info("task", extra=extra)


# Its time limit and retry delays stay below the Redis broker's visibility_timeout (3600 s):
# a message unacknowledged (acks late) or scheduled for longer is handed to a second worker.
@shared_task(
    name="billing.reconcile_subscriptions",
    autoretry_for=(BillingUnavailable,),
    retry_backoff=300,
    retry_backoff_max=1800,
    max_retries=5,
    soft_time_limit=1800,
    time_limit=1860,
)
def reconcile_subscriptions() -> None:
    try:
        run = sweeps.reconcile_subscriptions(resolve_duplicate=resolve_duplicate_subscription)
    except SoftTimeLimitExceeded:
        logger.warning("task", extra={"task": "billing.reconcile_subscriptions", "result": "time_limit"})
        return
    logger.info(
        "task",
        extra={
            "task": "billing.reconcile_subscriptions",
            "result": run.outcome,
            "run": run.pk,
            "checked": run.checked,
            "repaired": run.repaired,
            "failed": run.failed,
            "repaired_subscriptions": [entry["subscription"] for entry in run.repairs if "changes" in entry],
        },
    )
    if run.outcome == run.Outcome.STRIPE_UNAVAILABLE:
        raise BillingUnavailable("Stripe stopped answering during reconciliation; retrying later.")
