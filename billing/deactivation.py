"""Billing's part of deactivating an account (accounts.deactivation): the subscription is canceled first.

A deactivated person can no longer use what they pay for, so nothing may keep charging them.
Before the account changes, for each of their Stripe customers: open Checkout Sessions are
expired (a tab left open cannot start a new subscription afterwards), then every subscription
Stripe could still charge - ours, and any Stripe has whose webhook has not reached us - is
canceled now (no proration, no refund of the days left), through the gateway with an
idempotency key, and Stripe's answer is recorded here. When Stripe cannot be reached the account
is left as it is (the hook raises; accounts refuses the deactivation with Stripe's message):
deactivating and canceling later could lose the cancel and keep charging someone who is gone.
"""

from contextlib import suppress

from django.utils import formats, timezone
from djstripe.models import Customer

from billing import stripe_gateway as gateway
from billing.exceptions import StripeRejected
from billing.lifecycle import record_stripe_answer
from billing.models import ENDED_STATUSES, Subscription
from billing.money import format_price
from billing.selectors import OWING_STATUSES, invoice_to_pay


def chargeable_subscriptions(user):
    """The user's subscriptions Stripe could still charge, by our records, duplicates included."""
    return Subscription.objects.filter(user=user).exclude(status__in=ENDED_STATUSES).select_related("plan")


FREE_PLAN_NOTE = "You are on the free plan: there is no subscription to end, and you will not be charged."


class CancelSubscriptionsOnDeactivation:
    def describe(self, user) -> list[str]:
        """What happens to the person's plan, said on the page before they confirm: the free plan's
        one line, or per subscription what canceling now means, an unpaid invoice included."""
        rows = list(chargeable_subscriptions(user))
        if not rows:
            return [FREE_PLAN_NOTE]
        # A duplicate is refunded in full by billing.duplicates: nothing to say about it here.
        return [_note(row) for row in rows if row.duplicate_of_id is None]

    def settle(self, user) -> None:
        rows = list(chargeable_subscriptions(user).values_list("stripe_subscription_id", "stripe_customer_id"))
        customers = {customer for _sub, customer in rows if customer}
        customers |= set(Customer.objects.filter(subscriber=user).values_list("id", flat=True))
        to_cancel = [sub for sub, _customer in rows]
        for customer_id in sorted(customers):
            _expire_open_checkouts(customer_id)
            # After the checkouts: one paid meanwhile is listed here.
            to_cancel += [s["id"] for s in gateway.list_customer_subscriptions(customer_id=customer_id)]
        for stripe_subscription_id in dict.fromkeys(to_cancel):
            # No "subscription ended, subscribe again" mail: the deactivation mail says what happened.
            read_at = timezone.now()  # before Stripe is asked: its answer is news from after this
            record_stripe_answer(cancel_now(stripe_subscription_id), read_at=read_at, notify=False)


def _note(row: Subscription) -> str:
    if row.status in OWING_STATUSES:
        # Canceling stops Stripe's automatic collection of the customer's finalized invoices.
        owed = invoice_to_pay(row)
        amount = f" of {format_price(owed['amount_due'], owed['currency'])}" if owed else ""
        return (
            f"Your {row.plan.name} plan is canceled at once: you will not be charged again,"
            f" and Stripe stops trying to collect the unpaid invoice{amount}."
        )
    if row.cancel_at_period_end and row.current_period_end:
        until = formats.date_format(row.current_period_end, "j F Y")
        return (
            f"Your {row.plan.name} plan, already set to end on {until}, ends at once:"
            " the days left until then are not refunded."
        )
    return (
        f"Your {row.plan.name} plan is canceled at once: you will not be charged again,"
        " and the rest of the current period is not refunded."
    )


def _expire_open_checkouts(customer_id: str) -> None:
    for session in gateway.list_open_checkout_sessions(customer_id=customer_id):
        with suppress(StripeRejected):  # paid or expired meanwhile: a paid one's subscription is canceled below
            gateway.expire_checkout_session(
                session_id=session["id"], idempotency_key=f"deactivate:{session['id']}:expire"
            )


def cancel_now(stripe_subscription_id: str):
    """Stripe's subscription, canceled now (or already ended there, e.g. by a lost webhook's news)."""
    try:
        return gateway.cancel_subscription_now(
            subscription_id=stripe_subscription_id, idempotency_key=f"deactivate:{stripe_subscription_id}:cancel"
        )
    except StripeRejected:
        remote = gateway.retrieve_subscription(stripe_subscription_id)
        if remote["status"] in ENDED_STATUSES:
            return remote
        raise
