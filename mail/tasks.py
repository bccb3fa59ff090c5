"""The mail tasks: each loads by id and calls mail.delivery. Only row ids cross the broker."""

import logging

from celery import shared_task

from mail import delivery
from mail.publish import publish

logger = logging.getLogger("gatehouse.tasks")


@shared_task(
    name="mail.send_email",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def send_email(outbound_email_id: int) -> None:
    try:
        result = delivery.send(outbound_email_id)
    except OSError:
        _log(outbound_email_id, "failed")
        raise
    _log(outbound_email_id, result)


@shared_task(name="mail.send_emails")
def send_emails(outbound_email_ids: list[int]) -> None:
    """Send a batch stored at once (one task per sweep batch instead of one publish per mail).

    A mail that fails is handed to its own send_email task, which retries with back-off.
    """
    for outbound_email_id in outbound_email_ids:
        try:
            send_email(outbound_email_id)
        except OSError:
            publish(send_email, outbound_email_id)


@shared_task(name="mail.resend_lost_mail")
def resend_lost_mail() -> None:
    """Beat, every minute: re-dispatch outbox rows whose send task was lost (broker down)."""
    counts = delivery.resend_lost(dispatch=dispatch)
    logger.info("task", extra={"task": "mail.resend_lost_mail", "result": "done", **counts})


def dispatch(outbound_email_id: int) -> bool:
    """Publish one row's send now; False if the broker did not take it (the row waits for the sweep)."""
    return publish(send_email, outbound_email_id)


def _log(outbound_email_id: int, result: str) -> None:
    # Only the row id: recipients and bodies (links, codes) stay out of the log.
    logger.info("task", extra={"task": "mail.send_email", "outbound_email": outbound_email_id, "result": result})
