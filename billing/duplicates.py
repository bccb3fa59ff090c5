"""The second of two paid subscriptions (two Checkout tabs): cancel it in Stripe, refund it, tell the user.

Stripe first, with idempotency keys, so a retry after a failure (or a second run of the task)
repeats nothing; our row is marked resolved by compare-and-set and the mail is keyed.
"""

from django.db import transaction
from django.utils import timezone

from billing import emails
from billing import stripe_gateway as gateway
from billing.lifecycle import record_stripe_answer
from billing.models import Subscription


def resolve(subscription_id: int) -> str:
    row = Subscription.objects.select_related("user", "plan", "duplicate_of__plan").filter(pk=subscription_id).first()
    if row is None or row.duplicate_of_id is None:
        return "not_a_duplicate"
    if row.duplicate_resolved_at is not None:
        return "already_resolved"
    read_at = timezone.now()  # before Stripe is read: what it answers below is news from after this
    remote = gateway.retrieve_subscription(row.stripe_subscription_id)
    if remote["status"] not in ("canceled", "incomplete_expired"):
        remote = gateway.cancel_subscription_now(
            subscription_id=row.stripe_subscription_id, idempotency_key=f"duplicate:{row.stripe_subscription_id}:cancel"
        )
    refund = None
    invoice_id = gateway.stripe_id(remote.get("latest_invoice"))
    if invoice_id:
        refund = gateway.refund_invoice(
            invoice_id=invoice_id,
            idempotency_key=f"duplicate:{row.stripe_subscription_id}:refund",
            metadata={"reason": "duplicate_subscription", "subscription": row.stripe_subscription_id},
        )
    with transaction.atomic():
        won = Subscription.objects.filter(pk=row.pk, duplicate_resolved_at__isnull=True).update(
            duplicate_resolved_at=timezone.now()
        )
        record_stripe_answer(remote, read_at=read_at)
        if won:
            emails.duplicate_refunded(
                row,
                kept=row.duplicate_of,
                refund_amount=refund["amount"] if refund else None,
                currency=refund["currency"] if refund else row.plan.currency,
            )
    return "resolved" if won else "already_resolved"
