"""Reads that billing pages and the API share."""

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.db.models.fields.json import KeyTransform
from django.utils import formats
from djstripe.models import Customer, Invoice

from billing import stripe_gateway as gateway
from billing.access import access_subscription
from billing.exceptions import BillingError, StripeRejected
from billing.lifecycle import stripe_time
from billing.models import (
    PAY_BEFORE_CHANGING_PLAN,
    TIER_RANK,
    DuplicateRefund,
    Plan,
    Subscription,
    SubscriptionStatus,
    Tier,
)

# What the billing history page and payments/me show of an invoice, besides its ids and date.
INVOICE_FIELDS = ("number", "amount_due", "currency", "status", "hosted_invoice_url", "invoice_pdf")
# What the subscription page shows of the invoice a subscriber is asked to pay.
OPEN_INVOICE_FIELDS = ("amount_due", "currency", "hosted_invoice_url", "next_payment_attempt")
# Behind on payment: Stripe retries (past_due), gave up (unpaid), or the first payment is not done.
OWING_STATUSES = (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID, SubscriptionStatus.INCOMPLETE)


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


def invoice_to_pay(subscription: Subscription | None) -> dict | None:
    """The open invoice of a subscription that is behind on payment, to pay on Stripe's hosted page.

    {"amount_due", "currency", "hosted_invoice_url", "next_attempt"} from dj-stripe's mirror (one
    query, and none for a subscription in good standing); None when nothing is owed or mirrored.
    Current API versions link an invoice to its subscription under parent.subscription_details.
    """
    if subscription is None or subscription.status not in OWING_STATUSES:
        return None
    invoice = (
        Invoice.objects.filter(
            livemode=settings.STRIPE_LIVE_MODE,
            stripe_data__status="open",
            stripe_data__parent__subscription_details__subscription=subscription.stripe_subscription_id,
        )
        .order_by("-created")
        .values(**{name: KeyTransform(name, "stripe_data") for name in OPEN_INVOICE_FIELDS})
        .first()
    )
    if invoice is None or not invoice["hosted_invoice_url"]:
        return None
    invoice["next_attempt"] = stripe_time(invoice.pop("next_payment_attempt"))
    return invoice


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


# --- coming back from Checkout --------------------------------------------------------------------

# A Checkout Session id as Stripe makes them; anything else is not looked up.
CHECKOUT_SESSION_ID = re.compile(r"cs_(test|live)_[A-Za-z0-9]{1,255}")
PAID = ("paid", "no_payment_required")


class CheckoutState(StrEnum):
    ACTIVE = "active"  # paid, and our record grants access
    CONFIRMING = "confirming"  # paid in Stripe; Stripe's confirmation (the webhook) has not reached us yet
    DUPLICATE = "duplicate"  # paid while another subscription of the user had access: refunded
    UNPAID = "unpaid"  # completed, but the first payment has not gone through (yet)
    ENDED = "ended"  # paid once, and the subscription has ended since
    OPEN = "open"  # not finished: nothing was charged
    EXPIRED = "expired"  # not paid in time: nothing was charged
    UNCHECKED = "unchecked"  # Stripe could not be asked: we know nothing yet
    UNKNOWN = "unknown"  # no such session, or not this user's: nothing is said about it


@dataclass(frozen=True)
class CheckoutReturn:
    state: CheckoutState
    session_id: str = ""
    plan: Plan | None = None
    # Our access record for the session's subscription, once Stripe's webhook has written it.
    subscription: Subscription | None = None
    stripe_subscription_id: str = ""


def checkout_return(user, session_id: str) -> CheckoutReturn:
    """What became of the user's Checkout Session: Stripe's word on the session, then our record.

    Called with no transaction open (it asks Stripe). A session that is not this user's is
    UNKNOWN, exactly like one that does not exist: the page says nothing about other people's.
    """
    if not gateway.is_configured() or not CHECKOUT_SESSION_ID.fullmatch(session_id or ""):
        return CheckoutReturn(CheckoutState.UNKNOWN)
    try:
        session = gateway.retrieve_checkout_session(session_id)
    except StripeRejected:  # Stripe has no such session (in this account and mode)
        return CheckoutReturn(CheckoutState.UNKNOWN)
    except BillingError:
        return CheckoutReturn(CheckoutState.UNCHECKED, session_id)
    if not _is_users_session(session, user):
        return CheckoutReturn(CheckoutState.UNKNOWN)
    subscription_id = gateway.stripe_id(session.get("subscription"))
    record = (
        Subscription.objects.select_related("plan", "duplicate_of__plan")
        .filter(user=user, stripe_subscription_id=subscription_id)
        .first()
        if subscription_id
        else None
    )
    # Before Stripe's webhook there is no record: the plan is the one we put in the session's metadata.
    plan = (
        record.plan
        if record
        else Plan.objects.filter(code=(session.get("metadata") or {}).get("plan_code") or "").first()
    )
    state = _checkout_state(session, record)
    return CheckoutReturn(state, session_id, plan, record, subscription_id or "")


def _is_users_session(session, user) -> bool:
    """Ours for this user: made for them (client_reference_id) and billed to their own customer."""
    customer_id = gateway.stripe_id(session.get("customer"))
    return (
        session.get("mode") == "subscription"
        and session.get("client_reference_id") == str(user.pk)
        and bool(customer_id)
        and Customer.objects.filter(id=customer_id, subscriber=user).exists()
    )


def _checkout_state(session, record: Subscription | None) -> CheckoutState:
    if record is not None and record.duplicate_of_id is not None:
        return CheckoutState.DUPLICATE
    if record is not None and record.grants_access:
        return CheckoutState.ACTIVE
    if record is not None and record.has_ended:
        return CheckoutState.ENDED
    if session.get("status") == "complete":
        return CheckoutState.CONFIRMING if session.get("payment_status") in PAID else CheckoutState.UNPAID
    if session.get("status") == "expired":
        return CheckoutState.EXPIRED
    return CheckoutState.OPEN


@dataclass(frozen=True)
class PlanCard:
    """One card of the pricing page: its one action (a kind the template renders), or the reason
    it cannot be used (the action is then shown disabled with this reason)."""

    plan: Plan
    action: str  # signup | subscribe | switch | manage | downgrade | none
    label: str
    reason: str = ""
    current: bool = False
    highlighted: bool = False


def pricing_cards(user, plans: list[Plan], *, needs: str = "") -> list[PlanCard]:
    """What each plan's card offers this user. ``needs`` is the tier a gated page asked for: the
    cheapest plan that opens it is highlighted. Reads nothing beyond the access record (cached)."""
    current = access_subscription(user)
    wanted = TIER_RANK.get(needs) if needs in Tier.values else None
    opening = [plan for plan in plans if wanted and plan.rank >= wanted]
    highlighted = min(opening, key=lambda plan: (plan.rank, plan.price_cents)) if opening else None
    return [replace(_card(user, plan, current), highlighted=plan is highlighted) for plan in plans]


def _card(user, plan: Plan, current) -> PlanCard:
    free = not plan.price_cents
    if current is not None and current.plan_id == plan.pk:
        return PlanCard(plan, "manage", "Manage your subscription", current=True)
    if free:
        return _free_card(user, plan, current)
    label = f"Switch to {plan.name}" if current else f"Subscribe to {plan.name}"
    if not gateway.is_configured():
        return PlanCard(plan, "none", label, reason="Paid plans are not available yet.")
    if not plan.stripe_price_id:
        reason = "Not on sale yet: staff have not synced this plan to Stripe." if user.is_staff else "Not on sale yet."
        return PlanCard(plan, "none", label, reason=reason)
    if current is not None and not current.can_change_plan:
        return PlanCard(plan, "none", label, reason=PAY_BEFORE_CHANGING_PLAN)
    if current is not None:
        return PlanCard(plan, "switch", label)
    if not user.is_authenticated:
        return PlanCard(plan, "signup", "Create an account to subscribe")
    return PlanCard(plan, "subscribe", label)


def _free_card(user, plan: Plan, current) -> PlanCard:
    if not user.is_authenticated:
        return PlanCard(plan, "signup", "Create a free account")
    if current is None:
        return PlanCard(plan, "none", "You are on this plan", reason="Included with every account.", current=True)
    if current.cancel_at_period_end and current.current_period_end:
        when = formats.date_format(current.current_period_end, "j F Y")
        return PlanCard(plan, "none", f"Switch to {plan.name}", reason=f"You move to {plan.name} on {when}.")
    return PlanCard(plan, "downgrade", f"Cancel {current.plan.name} to move to {plan.name}")
