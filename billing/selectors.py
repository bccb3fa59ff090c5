"""Reads that billing pages and the API share."""

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.db.models.fields.json import KeyTransform
from djstripe.models import Invoice

from billing.access import access_subscription
from billing.models import DuplicateRefund, Subscription

# What the billing history page and payments/me show of an invoice, besides its ids and date.
INVOICE_FIELDS = ("number", "amount_due", "currency", "status", "hosted_invoice_url", "invoice_pdf")


def invoices_for(user, *, limit: int = 100) -> list[dict]:
    """The user's invoices from dj-stripe's mirror, newest first, in one query.

    Rows of the shown fields only: the database picks them out of each invoice's stored Stripe
    object (a few KB of JSON), so a page of invoices neither transfers nor decodes the rest.
    A duplicate subscription's refund (billing.DuplicateRefund) comes with its invoice, in the
    same query: ``refunded_cents``, ``refund_currency`` and ``refunded_at`` (None when none).
    """
    fields = {name: KeyTransform(name, "stripe_data") for name in INVOICE_FIELDS}
    refunds = DuplicateRefund.objects.filter(stripe_invoice_id=OuterRef("id"), state=DuplicateRefund.State.REFUNDED)
    refund = {
        "refunded_cents": Subquery(refunds.values("amount_cents")[:1]),
        "refund_currency": Subquery(refunds.values("currency")[:1]),
        "refunded_at": Subquery(refunds.values("refunded_at")[:1]),
    }
    return list(
        Invoice.objects.filter(customer__subscriber=user, livemode=settings.STRIPE_LIVE_MODE)
        .order_by("-created")
        .values("djstripe_id", "id", "created", "subscription_id", **fields, **refund)[:limit]
    )


def latest_subscription(user) -> Subscription | None:
    """The subscription to show on the subscription page: the one with access, else the newest.

    The one with access is the nav's too (read once per user object), so a subscriber's page
    costs no query of its own here.
    """
    return (
        access_subscription(user)
        or Subscription.objects.select_related("plan")
        .filter(user=user, duplicate_of__isnull=True)
        .order_by("-created_at")
        .first()
    )
