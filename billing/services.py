"""Billing workflows that touch Stripe. Stripe goes first: when it fails, nothing is saved here."""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from djstripe.models import Customer

from billing import lifecycle
from billing import stripe_gateway as gateway
from billing.access import access_subscription, forget_access
from billing.exceptions import AlreadySubscribed, BillingError, BillingNotConfigured, BillingRuleError, NotFound
from billing.locks import LockBusy, customer_lock
from billing.models import PAY_BEFORE_CHANGING_PLAN, Plan, Subscription
from billing.tasks import resolve_duplicate_subscription
from config.links import absolute_reverse

logger = logging.getLogger("gatehouse.billing")


# --- Plans ---------------------------------------------------------------------------------


def _price_terms(plan: Plan) -> tuple:
    return (plan.price_cents, plan.currency, plan.interval)


def push_plan_to_stripe(*, plan: Plan, previous: Plan | None = None) -> str | None:
    """Create or update the plan's Stripe Product and Price; set their ids on `plan` (unsaved).

    Prices are immutable in Stripe: new terms make a new Price. Returns the id of the Price the
    plan used to sell, to archive once our row points at the new one (see finish_plan_save).
    Creates carry idempotency keys, so a retry after a failure makes nothing twice.
    """
    if not gateway.is_configured() or plan.price_cents == 0:
        return None
    old_price_id = previous.stripe_price_id if previous else None
    product_id = plan.stripe_product_id
    if product_id is None:
        product = gateway.create_product(plan=plan, idempotency_key=f"plan:{plan.code}:product")
        gateway.mirror_product(product)
        product_id = product.id
    elif previous is not None:
        gateway.mirror_product(gateway.update_product(product_id=product_id, plan=plan))
    price_id = plan.stripe_price_id
    if price_id is None or previous is None or _price_terms(plan) != _price_terms(previous):
        terms = ":".join(str(term) for term in _price_terms(plan))
        # The price it replaces is part of the key: going back to earlier terms makes a new
        # Price instead of replaying the old (archived) one.
        key = f"plan:{plan.code}:price:{terms}:after:{old_price_id or 'none'}"
        price = gateway.create_price(plan=plan, product_id=product_id, idempotency_key=key)
        gateway.mirror_price(price)
        price_id = price.id
    plan.stripe_product_id, plan.stripe_price_id = product_id, price_id
    return old_price_id if old_price_id != price_id else None


def finish_plan_save(*, plan: Plan, old_price_id: str | None) -> None:
    if not old_price_id:
        return
    try:
        gateway.mirror_price(gateway.archive_price(price_id=old_price_id))
    except BillingError:
        # The plan already sells the new price; an unarchived old one is harmless and the
        # reconciliation job archives it later.
        logger.warning("old_price_not_archived", extra={"plan": plan.code, "price": old_price_id})


def save_plan(*, plan: Plan, previous: Plan | None = None) -> Plan:
    """Stripe first, then our row: when Stripe fails, nothing is saved here."""
    old_price_id = push_plan_to_stripe(plan=plan, previous=previous)
    with transaction.atomic():
        plan.save()
    finish_plan_save(plan=plan, old_price_id=old_price_id)
    return plan


def archive_plan(*, plan: Plan) -> Plan:
    """Soft delete: no new subscriptions; existing subscribers keep it to the end of their period."""
    plan.is_active = False
    if gateway.is_configured() and plan.stripe_product_id:
        gateway.mirror_product(gateway.update_product(product_id=plan.stripe_product_id, plan=plan))
    plan.save(update_fields=["is_active", "updated_at"])
    return plan


# --- Subscribing and changing --------------------------------------------------------------


def purchasable_plan(code: str) -> Plan:
    plan = Plan.objects.active().filter(code=code).first()
    if plan is None or plan.price_cents == 0:
        raise NotFound("No such plan is on sale.")
    return plan


def start_checkout(*, user, plan_code: str) -> str:
    """A Stripe Checkout URL for the plan, or BillingRuleError if the user already has access."""
    if not gateway.is_configured():
        raise BillingNotConfigured("Billing is not configured on this server.")
    if access_subscription(user) is not None:
        raise AlreadySubscribed("You already have a subscription. Change your plan instead.")
    plan = purchasable_plan(plan_code)
    if not plan.stripe_price_id:
        raise BillingNotConfigured("This plan is not on sale yet: it has no Stripe price.")
    customer_id = gateway.ensure_customer(user)
    session = gateway.create_checkout_session(
        customer_id=customer_id,
        price_id=plan.stripe_price_id,
        user=user,
        plan=plan,
        success_url=absolute_reverse("billing_checkout_success") + "?session_id={CHECKOUT_SESSION_ID}",
        cancel_url=absolute_reverse("billing_pricing") + "?checkout=canceled",
        # One checkout per user, plan and minute: a double click reuses the same session.
        idempotency_key=f"checkout:{user.pk}:{plan.code}:{int(time.time() // 60)}",
    )
    return session.url


def _current(user) -> Subscription:
    subscription = access_subscription(user)
    if subscription is None:
        raise NotFound("No active subscription found for this user.")
    return subscription


def _changeable(user) -> Subscription:
    subscription = _current(user)
    if not subscription.can_change_plan:
        raise BillingRuleError(PAY_BEFORE_CHANGING_PLAN)
    return subscription


def _item_id(stripe_subscription) -> str:
    return stripe_subscription["items"]["data"][0]["id"]


def preview_change(*, user, plan_code: str) -> dict:
    subscription = _changeable(user)
    plan = purchasable_plan(plan_code)
    if plan.pk == subscription.plan_id:
        raise BillingRuleError("You are already on this plan.")
    remote = gateway.retrieve_subscription(subscription.stripe_subscription_id)
    proration_date = int(time.time())
    preview = gateway.preview_price_change(
        customer_id=subscription.stripe_customer_id or remote["customer"],
        subscription_id=subscription.stripe_subscription_id,
        item_id=_item_id(remote),
        price_id=plan.stripe_price_id,
        proration_date=proration_date,
    )
    return {
        "plan": plan,
        "amount_due_cents": preview["amount_due"],
        "currency": preview["currency"],
        "proration_date": proration_date,
        "lines": [
            {"description": line.get("description") or "", "amount_cents": line["amount"]}
            for line in preview["lines"]["data"]
        ],
    }


@dataclass(frozen=True)
class PlanChange:
    """What a plan change left: our access record as Stripe answered, and where to pay if Stripe waits."""

    subscription: Subscription
    # The hosted invoice to pay when Stripe holds the change as `pending_update` ("" when Stripe gave
    # none); None when the change went through.
    payment_url: str | None = None


def change_plan(*, user, plan_code: str, proration_date: int | None = None) -> PlanChange:
    """Move the subscription to another plan in place, prorated.

    Our access record changes with Stripe's answer (and again, idempotently, with the webhook).
    When the prorated payment fails, Stripe keeps the change as `pending_update` until the
    invoice (`latest_invoice`, expanded) is paid: the record keeps the old plan and the answer
    carries that invoice's URL. A past-due subscription pays first (Subscription.can_change_plan).
    """
    subscription = _changeable(user)
    plan = purchasable_plan(plan_code)
    if plan.pk == subscription.plan_id:
        raise BillingRuleError("You are already on this plan.")
    remote = gateway.retrieve_subscription(subscription.stripe_subscription_id)
    proration_date = proration_date or int(time.time())
    read_at = timezone.now()
    changed = gateway.change_price(
        subscription_id=subscription.stripe_subscription_id,
        item_id=_item_id(remote),
        price_id=plan.stripe_price_id,
        proration_date=proration_date,
        idempotency_key=f"change:{subscription.stripe_subscription_id}:{plan.code}:{proration_date}",
    )
    if changed.get("pending_update"):
        return PlanChange(subscription, payment_url=_pending_invoice_url(changed))
    return PlanChange(_record_for(user, changed, read_at=read_at) or subscription)


def _pending_invoice_url(remote) -> str:
    invoice = remote.get("latest_invoice")
    return (invoice.get("hosted_invoice_url") if hasattr(invoice, "get") else None) or ""


def cancel_at_period_end(*, user) -> Subscription:
    subscription = _current(user)
    if subscription.cancel_at_period_end:
        raise BillingRuleError("Your subscription is already set to end at the end of the period.")
    read_at = timezone.now()
    remote = gateway.set_cancel_at_period_end(subscription_id=subscription.stripe_subscription_id, cancel=True)
    return _record_for(user, remote, read_at=read_at) or subscription


def resume(*, user) -> Subscription:
    subscription = _current(user)
    if not subscription.cancel_at_period_end:
        raise BillingRuleError("Your subscription is not set to end.")
    read_at = timezone.now()
    remote = gateway.set_cancel_at_period_end(subscription_id=subscription.stripe_subscription_id, cancel=False)
    return _record_for(user, remote, read_at=read_at) or subscription


def record_stripe_answer(remote, *, read_at) -> Subscription | None:
    """Stripe's answer to our own change, recorded now (billing.lifecycle.record_stripe_answer).

    Under the customer's lock, the one the webhook view holds while dj-stripe re-fetches: a delivery
    in flight for this customer is applied first, then this answer, which was read after it began.
    """
    customer_id = gateway.stripe_id(remote.get("customer"))
    try:
        with customer_lock(customer_id):
            return lifecycle.record_stripe_answer(
                remote, read_at=read_at, resolve_duplicate=resolve_duplicate_subscription
            )
    except LockBusy:
        # A delivery for this customer is taking long; the compare-and-set by read time alone
        # still keeps older news from overwriting this answer.
        logger.warning("customer_lock_busy", extra={"stripe_customer": customer_id})
        return lifecycle.record_stripe_answer(remote, read_at=read_at, resolve_duplicate=resolve_duplicate_subscription)


def _record_for(user, remote, *, read_at) -> Subscription | None:
    """Record Stripe's answer; the user's access, read once per request, is read again after it."""
    recorded = record_stripe_answer(remote, read_at=read_at)
    forget_access(user)
    return recorded


def billing_portal_url(*, user, return_url: str) -> str:
    customer = Customer.objects.filter(subscriber=user, livemode=settings.STRIPE_LIVE_MODE).first()
    if customer is None:
        raise NotFound("You have no billing account yet.")
    return gateway.create_portal_session(customer_id=customer.id, return_url=return_url).url
