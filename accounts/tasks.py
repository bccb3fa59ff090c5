"""Mail leaves the request: the adapter renders it, this task sends it."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

logger = logging.getLogger("gatehouse.tasks")


@shared_task(
    name="accounts.send_email",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def send_email(*, subject: str, body: str, html: str, to: list[str], from_email: str = "") -> None:
    message = EmailMultiAlternatives(subject, body, from_email or settings.DEFAULT_FROM_EMAIL, to)
    if html:
        message.attach_alternative(html, "text/html")
    message.send()
    # The subject names the mail; recipients and bodies (links, codes) stay out of the log.
    logger.info("task", extra={"task": "accounts.send_email", "subject": subject, "recipients": len(to)})
