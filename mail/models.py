from django.db import models


class OutboundEmail(models.Model):
    """A mail waiting to be sent: the Celery task gets only this row's id.

    Nothing secret (links, codes) travels through the broker or its logs, a retried task sends
    at most once (sent_at is claimed under a row lock), and a mail whose task was lost can be
    sent again from here. Bodies are cleared once sent.
    """

    to = models.JSONField()
    from_email = models.CharField(max_length=254)
    subject = models.CharField(max_length=998)
    body = models.TextField()
    html = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    # Mail about one fact ("invoice in_123 was paid") carries a key: the same fact never mails twice,
    # however many times Stripe, a retry or a sweep reports it.
    dedupe_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    # Mail stored by the thousand (the expiry sweep) is rendered when sent: the stable name of a
    # renderer registered in mail.renderers, called with ``render_args``.
    renderer = models.CharField(max_length=200, blank=True)
    render_args = models.JSONField(default=dict, blank=True)
    # When the resend sweep last dispatched this row because its task was lost.
    resent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "outbound email"
        indexes = [models.Index(fields=["created_at"], condition=models.Q(sent_at__isnull=True), name="outbox_unsent")]

    def __str__(self):
        return f"{self.subject} ({'sent' if self.sent_at else 'queued'})"
