"""The one seam to Stripe: every call we make goes through here.

Calls carry our pinned API version, a timeout, and an idempotency key when they create
something. Stripe's errors become domain errors whose message a person can act on; callers map
them to a page message or to the API's 4xx/503.
"""

import logging

import djstripe.models
import stripe
from django.conf import settings
from djstripe.settings import djstripe_settings

from billing.exceptions import BillingNotConfigured, BillingUnavailable, PaymentDeclined, StripeRejected

logger = logging.getLogger("gatehouse.stripe")


def configure_sdk() -> None:
    """Give the SDK our HTTP timeout, once (BillingConfig.ready): dj-stripe's calls share the client.

    Key and API version travel with each call (they may change under override_settings); this is
    the one SDK global we set.
    """
    stripe.default_http_client = stripe.new_default_http_client(timeout=settings.STRIPE_TIMEOUT_SECONDS)


def is_configured() -> bool:
    """Billing is configured when a Stripe secret key is set: the one place that says so."""
    return bool(settings.STRIPE_SECRET_KEY)


def stripe_id(value) -> str | None:
    """The id of an expandable field: Stripe sends either the id or the expanded object."""
    return value.get("id") if isinstance(value, dict) else value


def _call(operation: str, function, /, *args, idempotency_key: str | None = None, **params):
    """Run one SDK call with our key, version and timeout, translating its errors."""
    if not is_configured():
        raise BillingNotConfigured("Billing is not configured on this server.")
    options = {"api_key": settings.STRIPE_SECRET_KEY, "stripe_version": settings.STRIPE_API_VERSION}
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    try:
        return function(*args, **options, **params)
    except stripe.CardError as error:
        raise _refusal(PaymentDeclined(error.user_message or "The card was declined."), error) from error
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        _log_failure(operation, error)
        raise BillingUnavailable("Stripe could not be reached. Please try again in a few minutes.") from error
    except stripe.AuthenticationError as error:
        _log_failure(operation, error)
        raise BillingUnavailable("Billing is misconfigured on this server. Please contact support.") from error
    except stripe.InvalidRequestError as error:
        _log_failure(operation, error)
        raise _refusal(StripeRejected(error.user_message or "Stripe refused the request."), error) from error
    except stripe.StripeError as error:
        _log_failure(operation, error)
        raise BillingUnavailable("Stripe is having trouble. Please try again in a few minutes.") from error


def _refusal(refusal, error: stripe.StripeError):
    refusal.stripe_code = error.code
    return refusal


def _log_failure(operation: str, error: stripe.StripeError) -> None:
    logger.warning(
        "stripe_call_failed",
        extra={
            "operation": operation,
            "error": type(error).__name__,
            "http_status": getattr(error, "http_status", None),
            "stripe_code": getattr(error, "code", None),
            "request_id": getattr(error, "request_id", None),
        },
    )


# --- Products and prices -------------------------------------------------------------------


def create_product(*, plan, idempotency_key: str):
    return _call(
        "product.create",
        stripe.Product.create,
        idempotency_key=idempotency_key,
        name=plan.name,
        active=plan.is_active,
        metadata={"plan_code": plan.code, "tier": plan.tier},
        marketing_features=[{"name": feature} for feature in plan.features][:15],
    )


def update_product(*, product_id: str, plan):
    return _call(
        "product.update",
        stripe.Product.modify,
        product_id,
        name=plan.name,
        active=plan.is_active,
        metadata={"plan_code": plan.code, "tier": plan.tier},
        marketing_features=[{"name": feature} for feature in plan.features][:15],
    )


def create_price(*, plan, product_id: str, idempotency_key: str):
    return _call(
        "price.create",
        stripe.Price.create,
        idempotency_key=idempotency_key,
        product=product_id,
        unit_amount=plan.price_cents,
        currency=plan.currency,
        recurring={"interval": plan.interval},
        metadata={"plan_code": plan.code},
    )


def archive_price(*, price_id: str):
    return _call("price.archive", stripe.Price.modify, price_id, active=False)


# --- dj-stripe's mirror (it calls Stripe for what it does not hold yet) -------------------------


def ensure_customer(user) -> str:
    """The user's Stripe customer id (dj-stripe's Customer, created in Stripe on first use)."""

    def get_or_create(**options):
        customer, _created = djstripe.models.Customer.get_or_create(subscriber=user, api_key=options["api_key"])
        return customer

    return _call("customer.ensure", get_or_create).id


def _mirror(model, stripe_object):
    """Keep dj-stripe's copy in step with what we just wrote to (or read from) Stripe."""
    return _call(
        f"{model.__name__.lower()}.mirror",
        lambda **options: model.sync_from_stripe_data(stripe_object, api_key=options["api_key"]),
    )


def mirror_product(product):
    return _mirror(djstripe.models.Product, product)


def mirror_price(price):
    return _mirror(djstripe.models.Price, price)


def mirror_webhook_endpoint(data: dict):
    return _mirror(djstripe.models.WebhookEndpoint, data)


def reprocess_webhook_trigger(trigger) -> None:
    """Run a stored webhook delivery through dj-stripe again (it re-fetches the event's object).

    Stripe's errors are not translated here: the delivery log keeps dj-stripe's own error, as it
    does for a live delivery.
    """
    api_key = djstripe_settings.get_default_api_key(trigger.json_body.get("livemode", False))
    trigger.process(save=False, api_key=api_key)


# --- Customers, checkout, subscriptions -----------------------------------------------------


def create_checkout_session(*, customer_id, price_id, user, plan, success_url, cancel_url, idempotency_key):
    return _call(
        "checkout.create",
        stripe.checkout.Session.create,
        idempotency_key=idempotency_key,
        mode="subscription",
        customer=customer_id,
        client_reference_id=str(user.pk),
        line_items=[{"price": price_id, "quantity": 1}],
        allow_promotion_codes=True,
        metadata={"user_id": str(user.pk), "plan_code": plan.code},
        subscription_data={"metadata": {"user_id": str(user.pk), "plan_code": plan.code}},
        success_url=success_url,
        cancel_url=cancel_url,
    )


def retrieve_checkout_session(session_id: str):
    return _call("checkout.retrieve", stripe.checkout.Session.retrieve, session_id)


def retrieve_subscription(subscription_id: str):
    return _call("subscription.retrieve", stripe.Subscription.retrieve, subscription_id)


def list_open_checkout_sessions(*, customer_id: str) -> list:
    """The customer's Checkout Sessions that could still be paid (status=open)."""
    page = _call("checkout.list", stripe.checkout.Session.list, customer=customer_id, status="open", limit=100)
    return page["data"]


def expire_checkout_session(*, session_id: str, idempotency_key: str):
    return _call("checkout.expire", stripe.checkout.Session.expire, session_id, idempotency_key=idempotency_key)


def list_customer_subscriptions(*, customer_id: str) -> list:
    """The customer's subscriptions Stripe has not ended (Stripe's default status filter)."""
    return _call("subscription.list", stripe.Subscription.list, customer=customer_id, limit=100)["data"]


def list_subscriptions(*, page_size: int = 100):
    """Every subscription in Stripe, ended ones included (status=all), newest first, page by page."""
    starting_after = None
    while True:
        cursor = {"starting_after": starting_after} if starting_after else {}
        page = _call("subscription.list", stripe.Subscription.list, status="all", limit=page_size, **cursor)
        yield from page["data"]
        if not page["has_more"] or not page["data"]:
            return
        starting_after = page["data"][-1]["id"]


def preview_price_change(*, customer_id, subscription_id, item_id, price_id, proration_date: int):
    return _call(
        "invoice.preview",
        stripe.Invoice.create_preview,
        customer=customer_id,
        subscription=subscription_id,
        subscription_details={
            "items": [{"id": item_id, "price": price_id}],
            "proration_date": proration_date,
            "proration_behavior": "always_invoice",
        },
    )


def change_price(*, subscription_id, item_id, price_id, proration_date: int, idempotency_key):
    return _call(
        "subscription.change_price",
        stripe.Subscription.modify,
        subscription_id,
        idempotency_key=idempotency_key,
        items=[{"id": item_id, "price": price_id}],
        proration_behavior="always_invoice",
        proration_date=proration_date,
        payment_behavior="pending_if_incomplete",
        expand=["latest_invoice"],
    )


def set_cancel_at_period_end(*, subscription_id, cancel: bool):
    return _call(
        "subscription.cancel_at_period_end", stripe.Subscription.modify, subscription_id, cancel_at_period_end=cancel
    )


def create_portal_session(*, customer_id, return_url):
    return _call("portal.create", stripe.billing_portal.Session.create, customer=customer_id, return_url=return_url)


def cancel_subscription_now(*, subscription_id: str, idempotency_key: str):
    return _call("subscription.cancel", stripe.Subscription.cancel, subscription_id, idempotency_key=idempotency_key)


def refund_invoice(*, invoice_id: str, idempotency_key: str, metadata: dict):
    """Refund what was paid on one invoice in full; None when nothing on it was paid."""
    payments = _call("invoice_payment.list", stripe.InvoicePayment.list, invoice=invoice_id, status="paid", limit=10)
    intents = [p["payment"].get("payment_intent") for p in payments["data"] if p["payment"].get("payment_intent")]
    if not intents:
        return None
    return _call(
        "refund.create",
        stripe.Refund.create,
        idempotency_key=idempotency_key,
        payment_intent=intents[0],
        reason="duplicate",
        metadata=metadata,
    )


# --- Webhook endpoints ------------------------------------------------------------------------


def create_webhook_endpoint(*, url: str, enabled_events: list[str], metadata: dict, idempotency_key: str):
    return _call(
        "webhook_endpoint.create",
        stripe.WebhookEndpoint.create,
        idempotency_key=idempotency_key,
        url=url,
        enabled_events=enabled_events,
        api_version=settings.STRIPE_API_VERSION,
        metadata=metadata,
        description="Gatehouse (dj-stripe)",
    )


def retrieve_webhook_endpoint(endpoint_id: str):
    return _call("webhook_endpoint.retrieve", stripe.WebhookEndpoint.retrieve, endpoint_id)
