"""The second of two paid subscriptions (two Checkout tabs): cancel it in Stripe, refund it, tell the user.

Stripe first, with idempotency keys, so a retry after a failure (or a second run of the task)
repeats nothing; our row is marked resolved by compare-and-set and the mail is keyed.

The refund is recorded (billing.DuplicateRefund) and shown in the customer's billing history. A
refund Stripe refuses (the charge already refunded, disputed...) is not retried: no retry can
change Stripe's answer, which it replays for the same idempotency key. It is marked "needs
staff" with Stripe's reason, logged once, and listed in the admin; so is one that failed
DuplicateRefund.MAX_ATTEMPTS times because Stripe did not answer.
"""

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing import emails
from billing import stripe_gateway as gateway
from billing.exceptions import BillingError, BillingUnavailable, PaymentDeclined, StripeRejected
from billing.lifecycle import record_stripe_answer, stripe_time
from billing.models import DuplicateRefund, Subscription

logger = logging.getLogger("gatehouse.billing")


def resolve(subscription_id: int) -> str:
    row = Subscription.objects.select_related("user", "plan", "duplicate_of__plan").filter(pk=subscription_id).first()
    if row is None or row.duplicate_of_id is None:
        return "not_a_duplicate"
    if row.duplicate_resolved_at is not None:
        return "already_resolved"
    earlier = DuplicateRefund.objects.filter(subscription=row).first()
    if earlier is not None and earlier.state == DuplicateRefund.State.NEEDS_STAFF:
        return "needs_staff"
    read_at = timezone.now()  # before Stripe is read: what it answers below is news from after this
    remote = gateway.retrieve_subscription(row.stripe_subscription_id)
    if remote["status"] not in ("canceled", "incomplete_expired"):
        remote = gateway.cancel_subscription_now(
            subscription_id=row.stripe_subscription_id, idempotency_key=f"duplicate:{row.stripe_subscription_id}:cancel"
        )
    refund = None
    invoice_id = gateway.stripe_id(remote.get("latest_invoice"))
    if invoice_id:
        try:
            refund = gateway.refund_invoice(
                invoice_id=invoice_id,
                idempotency_key=_refund_key(row, earlier),
                metadata={"reason": "duplicate_subscription", "subscription": row.stripe_subscription_id},
            )
        except (StripeRejected, PaymentDeclined) as refusal:
            _refund_failed(row, remote, invoice_id, refusal, retryable=False, read_at=read_at)
            return "needs_staff"
        except BillingUnavailable as outage:
            if _refund_failed(row, remote, invoice_id, outage, retryable=True, read_at=read_at):
                return "needs_staff"
            raise  # the task retries later
    with transaction.atomic():
        won = Subscription.objects.filter(pk=row.pk, duplicate_resolved_at__isnull=True).update(
            duplicate_resolved_at=timezone.now()
        )
        record_stripe_answer(remote, read_at=read_at)
        if refund is not None:
            _record_refund(row, invoice_id, refund)
        if won:
            emails.duplicate_refunded(
                row,
                kept=row.duplicate_of,
                refund_amount=refund["amount"] if refund else None,
                currency=refund["currency"] if refund else row.plan.currency,
            )
    return "resolved" if won else "already_resolved"


def retry_refund(refund: DuplicateRefund) -> bool:
    """Staff fixed what Stripe refused (or Stripe is back): try this refund again, with fresh attempts.

    Compare-and-set from "needs staff", so two clicks retry once. The caller dispatches the task
    (billing.resolve_duplicate_subscription) after commit. True if this call reopened it.
    """
    return bool(
        DuplicateRefund.objects.filter(pk=refund.pk, state=DuplicateRefund.State.NEEDS_STAFF).update(
            state=DuplicateRefund.State.TRYING,
            failures=0,
            needs_staff_since=None,
            staff_retries=F("staff_retries") + 1,
            updated_at=timezone.now(),
        )
    )


def _refund_key(row: Subscription, earlier: DuplicateRefund | None) -> str:
    # Stripe replays a refused request's answer for its key: a retry staff asked for needs its own.
    key = f"duplicate:{row.stripe_subscription_id}:refund"
    return f"{key}:staff-retry-{earlier.staff_retries}" if earlier and earlier.staff_retries else key


def _record_refund(row: Subscription, invoice_id: str, refund) -> None:
    DuplicateRefund.objects.update_or_create(
        subscription=row,
        defaults={
            "state": DuplicateRefund.State.REFUNDED,
            "stripe_invoice_id": invoice_id,
            "stripe_refund_id": refund["id"],
            "stripe_status": refund.get("status") or "",
            "amount_cents": refund["amount"],
            "currency": refund["currency"],
            "refunded_at": stripe_time(refund.get("created")) or timezone.now(),
            "needs_staff_since": None,
        },
    )


def _refund_failed(
    row: Subscription, remote, invoice_id: str, error: BillingError, *, retryable: bool, read_at
) -> bool:
    """Count a failed refund; True if it is now left for staff (refused, or out of attempts)."""
    reason = f"{error} ({error.stripe_code})" if error.stripe_code else str(error)
    with transaction.atomic():
        record_stripe_answer(remote, read_at=read_at)  # the cancel went through: access and status say so meanwhile
        refund, _created = DuplicateRefund.objects.select_for_update().get_or_create(
            subscription=row, defaults={"stripe_invoice_id": invoice_id}
        )
        failures = refund.failures + 1
        gives_up = not retryable or failures >= DuplicateRefund.MAX_ATTEMPTS
        DuplicateRefund.objects.filter(pk=refund.pk).update(
            failures=F("failures") + 1,
            last_error=reason,
            stripe_invoice_id=invoice_id,
            state=DuplicateRefund.State.NEEDS_STAFF if gives_up else DuplicateRefund.State.TRYING,
            needs_staff_since=timezone.now() if gives_up else None,
            updated_at=timezone.now(),
        )
    if gives_up:
        logger.error(
            "duplicate_refund_needs_staff",
            extra={
                "subscription": row.pk,
                "stripe_subscription": row.stripe_subscription_id,
                "invoice": invoice_id,
                "failures": failures,
                "refused_by_stripe": not retryable,
                "stripe_code": error.stripe_code,
                "reason": reason,
            },
        )
    return gives_up
