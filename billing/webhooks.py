"""dj-stripe receivers: they run inside the webhook's transaction after dj-stripe has re-fetched and
mirrored the event's object, and only turn that mirror into our access record and queued mail.

No Stripe calls and no sending here (DESIGN.md, "Known traps"): an exception is a 500 and Stripe
retries the whole delivery. dj-stripe stores each event once, so a duplicate delivery never gets here.
"""

import contextlib
import logging
from contextvars import ContextVar
from datetime import datetime

from django.utils import timezone
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


# When the delivery being processed started reading Stripe (set by the webhook view, under the
# customer's lock): whatever dj-stripe re-fetched for it was read by Stripe after this moment.
_reading_since: ContextVar[datetime | None] = ContextVar("stripe_reading_since", default=None)


@contextlib.contextmanager
def reading_stripe():
    """Mark the delivery processed inside as reading Stripe from now (before dj-stripe's re-fetch)."""
    token = _reading_since.set(timezone.now())
    try:
        yield
    finally:
        _reading_since.reset(token)


def apply_mirrored_subscription(subscription_id: str | None) -> None:
    """Apply dj-stripe's copy as read from Stripe: ordered by when the read began, not when it was saved.

    dj-stripe's ``djstripe_updated`` is when the mirror was saved; a re-fetch answered late is saved
    after a change our portal recorded meanwhile, yet carries the older news (DESIGN.md, "Known
    traps"). So the copy counts as read when this delivery began reading Stripe. A copy saved before
    this delivery (an invoice event does not re-fetch its subscription) was weighed when it was read,
    and is not applied again as if it were new.
    """
    mirror = djstripe_models.Subscription.objects.filter(id=subscription_id).first() if subscription_id else None
    if mirror is None:
        logger.info("subscription_not_mirrored", extra={"stripe_subscription": subscription_id})
        return
    read_at = _reading_since.get()
    if read_at is None:  # outside a delivery (dj-stripe's own sync): its save time is all that is known
        read_at = mirror.djstripe_updated
    elif mirror.djstripe_updated < read_at:
        logger.info("subscription_mirror_not_re_read", extra={"stripe_subscription": subscription_id})
        return
    lifecycle.apply_stripe_subscription(
        mirror.stripe_data, seen_at=read_at, resolve_duplicate=resolve_duplicate_subscription
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
