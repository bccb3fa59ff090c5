"""Mail leaves the request: the adapter renders it into the outbox, this task sends it."""

import logging

from celery import shared_task
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts import housekeeping, outbox
from accounts.models import OutboundEmail

logger = logging.getLogger("gatehouse.tasks")


@shared_task(
    name="accounts.send_email",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def send_email(outbound_email_id: int) -> None:
    failure = None
    with transaction.atomic():
        # The row lock makes a concurrent duplicate of this task skip instead of sending twice.
        outbound = (
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=outbound_email_id, sent_at__isnull=True)
            .first()
        )
        if outbound is None:  # already sent, or another worker is sending it right now
            _log(outbound_email_id, "skipped")
            return
        message = _message(outbound)
        if message is None:  # rendered late, and what it would report is no longer true
            outbound.sent_at, outbound.last_error = timezone.now(), "not sent: no longer applies"
            outbound.save(update_fields=["sent_at", "last_error"])
            _log(outbound_email_id, "dropped")
            return
        try:
            message.send()
        except OSError as error:
            failure = error
        else:
            outbound.sent_at = timezone.now()
            outbound.attempts += 1
            outbound.body = outbound.html = ""
            outbound.save(update_fields=["sent_at", "attempts", "body", "html"])
    if failure is not None:
        OutboundEmail.objects.filter(pk=outbound_email_id).update(
            attempts=F("attempts") + 1, last_error=type(failure).__name__
        )
        _log(outbound_email_id, "failed")
        raise failure
    _log(outbound_email_id, "sent")


@shared_task(name="accounts.send_emails")
def send_emails(outbound_email_ids: list[int]) -> None:
    """Send a batch stored at once (one task per sweep batch instead of one publish per mail).

    A mail that fails is handed to its own send_email task, which retries with back-off.
    """
    for outbound_email_id in outbound_email_ids:
        try:
            send_email(outbound_email_id)
        except OSError:
            send_email.delay(outbound_email_id)


def _message(outbound: OutboundEmail):
    if outbound.render_with:
        message = import_string(outbound.render_with)(**outbound.render_args)
        if message is not None:
            outbound.subject, outbound.to = message.subject, list(message.to)
            outbound.save(update_fields=["subject", "to"])
        return message
    message = EmailMultiAlternatives(outbound.subject, outbound.body, outbound.from_email, outbound.to)
    if outbound.html:
        message.attach_alternative(outbound.html, "text/html")
    return message


@shared_task(name="accounts.resend_lost_mail")
def resend_lost_mail() -> None:
    """Beat, every minute: re-dispatch outbox rows whose send task was lost (broker down)."""
    counts = outbox.resend_lost_mail()
    logger.info("task", extra={"task": "accounts.resend_lost_mail", "result": "done", **counts})


@shared_task(name="accounts.delete_expired_credentials")
def delete_expired_credentials() -> None:
    """Beat, daily: expired refresh tokens, API logins, login codes and social hand-offs."""
    counts = housekeeping.delete_expired_credentials()
    logger.info("task", extra={"task": "accounts.delete_expired_credentials", "result": "done", **counts})


def _log(outbound_email_id: int, result: str) -> None:
    # Only the row id: recipients and bodies (links, codes) stay out of the log.
    logger.info("task", extra={"task": "accounts.send_email", "outbound_email": outbound_email_id, "result": result})
