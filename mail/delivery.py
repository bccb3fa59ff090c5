"""Sending one stored mail, and finding the mail whose task was lost.

No task is imported here: mail.tasks calls these functions, and the resend sweep is handed
the function that publishes a send.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from mail import renderers
from mail.models import OutboundEmail

logger = logging.getLogger("gatehouse.mail")

RESEND_BATCH_SIZE = 200


def send(outbound_email_id: int) -> str:
    """Send one row once: "sent", "skipped" (sent, or being sent), "dropped" (no longer true) or
    "unrenderable" (its renderer is not registered in this release).

    The row lock makes a concurrent duplicate skip instead of sending twice. An OSError from the
    mail server is counted on the row and raised, for the task to retry with back-off.
    """
    with transaction.atomic():
        outbound = (
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=outbound_email_id, sent_at__isnull=True)
            .first()
        )
        if outbound is None:
            return "skipped"
        try:
            message = _message(outbound)
        except renderers.UnknownRenderer:
            # A release that dropped a renderer: keep the row (a later release may bring it back).
            logger.error("mail_renderer_unknown", extra={"outbound_email": outbound.pk, "renderer": outbound.renderer})
            outbound.attempts += 1
            outbound.last_error = f"unknown renderer {outbound.renderer}"[:500]
            outbound.save(update_fields=["attempts", "last_error"])
            return "unrenderable"
        if message is None:
            outbound.sent_at, outbound.last_error = timezone.now(), "not sent: no longer applies"
            outbound.save(update_fields=["sent_at", "last_error"])
            return "dropped"
        try:
            message.send()
        except OSError as error:
            failure = error
        else:
            outbound.sent_at = timezone.now()
            outbound.attempts += 1
            outbound.body = outbound.html = ""
            outbound.save(update_fields=["sent_at", "attempts", "body", "html"])
            return "sent"
    # Counted after the lock's transaction, so the count survives the task's retry.
    OutboundEmail.objects.filter(pk=outbound_email_id).update(
        attempts=F("attempts") + 1, last_error=type(failure).__name__
    )
    raise failure


def _message(outbound: OutboundEmail) -> EmailMessage | None:
    if outbound.renderer:
        message = renderers.render(outbound.renderer, outbound.render_args)
        if message is not None:
            outbound.subject, outbound.to = message.subject, list(message.to)
            outbound.save(update_fields=["subject", "to"])
        return message
    message = EmailMultiAlternatives(outbound.subject, outbound.body, outbound.from_email, outbound.to)
    if outbound.html:
        message.attach_alternative(outbound.html, "text/html")
    return message


def resend_lost(*, dispatch: Callable[[int], bool], now=None) -> dict[str, int]:
    """Dispatch unsent mail that waited too long; returns how many rows were due and dispatched.

    If the broker was down when a row's task was published, the task never existed; such rows
    are found by age and published again, backing off per row. The send itself claims the row,
    so a row dispatched twice is still sent once.
    """
    now = now or timezone.now()
    due = list(
        OutboundEmail.objects.filter(_due(now)).order_by("created_at").values_list("pk", "attempts")[:RESEND_BATCH_SIZE]
    )
    dispatched = 0
    for pk, attempts in due:
        if claim(pk, attempts=attempts, now=now) and dispatch(pk):
            dispatched += 1
    return {"due": len(due), "dispatched": dispatched}


def claim(pk: int, *, attempts: int, now) -> bool:
    """Compare-and-set on attempts: of two sweeps that read the same row, only one dispatches it."""
    return bool(
        OutboundEmail.objects.filter(pk=pk, sent_at__isnull=True, attempts=attempts).update(
            attempts=F("attempts") + 1, resent_at=now
        )
    )


def _due(now) -> Q:
    """Unsent rows quiet for longer than the wait (doubled per attempt already made), below the cap.

    Quiet means since the last resend, or since the row was written if it was never resent.
    """
    wait = timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS)
    due = Q()
    for attempts in range(settings.OUTBOX_MAX_ATTEMPTS):
        quiet_since = now - wait * 2**attempts
        due |= Q(attempts=attempts) & (
            Q(resent_at__isnull=True, created_at__lte=quiet_since) | Q(resent_at__lte=quiet_since)
        )
    return Q(sent_at__isnull=True) & due
