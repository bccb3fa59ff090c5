"""dj-stripe receivers: they run inside the webhook's transaction after dj-stripe has re-fetched and
mirrored the event's object, and only turn that mirror into our access record and queued mail.

No Stripe calls and no sending here (DESIGN.md, "Known traps"): an exception is a 500 and Stripe
retries the whole delivery. dj-stripe stores each event once, so a duplicate delivery never gets here.
"""

import logging

from djstripe import models as djstripe_models
from djstripe.event_handlers import djstripe_receiver

from billing import lifecycle
from billing.stripe_gateway import stripe_id
from billing.tasks import resolve_duplicate_subscription

logger = logging.getLogger("gatehouse.billing")

SUBSCRIPTION_EVENTS = [
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired",
]
# What the endpoint asks Stripe for (manage.py stripe_webhook_endpoint): ours plus what the mirror needs.
ENABLED_EVENTS = [
    "checkout.session.completed",
    "checkout.session.expired",
    *SUBSCRIPTION_EVENTS,
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.updated",
    "invoice.voided",
    "customer.updated",
    "customer.deleted",
    "product.updated",
    "price.updated",
    "charge.refunded",
]


def apply_mirrored_subscription(subscription_id: str | None) -> None:
    """Apply dj-stripe's freshly re-fetched copy; its sync time orders it against other news."""
    mirror = djstripe_models.Subscription.objects.filter(id=subscription_id).first() if subscription_id else None
    if mirror is None:
        logger.info("subscription_not_mirrored", extra={"stripe_subscription": subscription_id})
        return
    lifecycle.apply_stripe_subscription(
        mirror.stripe_data, seen_at=mirror.djstripe_updated, resolve_duplicate=resolve_duplicate_subscription
    )


@djstripe_receiver(SUBSCRIPTION_EVENTS)
def on_subscription_event(sender, event, **kwargs):
    apply_mirrored_subscription(event.data["object"]["id"])


@djstripe_receiver("checkout.session.completed")
def on_checkout_completed(sender, event, **kwargs):
    subscription = event.data["object"].get("subscription")
    apply_mirrored_subscription(stripe_id(subscription))


@djstripe_receiver("invoice.paid")
def on_invoice_paid(sender, event, **kwargs):
    invoice = _mirrored_invoice(event)
    apply_mirrored_subscription(lifecycle.subscription_id_of_invoice(invoice))
    lifecycle.invoice_paid(invoice)


@djstripe_receiver("invoice.payment_failed")
def on_invoice_payment_failed(sender, event, **kwargs):
    invoice = _mirrored_invoice(event)
    apply_mirrored_subscription(lifecycle.subscription_id_of_invoice(invoice))
    lifecycle.invoice_payment_failed(invoice)


def _mirrored_invoice(event) -> dict:
    invoice_id = event.data["object"]["id"]
    mirror = djstripe_models.Invoice.objects.filter(id=invoice_id).first()
    return mirror.stripe_data if mirror is not None else event.data["object"]


@djstripe_receiver("invoice.payment_action_required")
def on_invoice_payment_action_required(sender, event, **kwargs):
    lifecycle.invoice_payment_action_required(_mirrored_invoice(event))
