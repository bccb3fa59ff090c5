"""The one seam to Stripe: every call we make goes through here.

Calls carry our pinned API version, a timeout, and an idempotency key when they create
something. Stripe's errors become domain errors whose message a person can act on; callers map
them to a page message or to the API's 4xx/503.
"""

import logging

import stripe
from django.conf import settings

from billing.exceptions import BillingNotConfigured, BillingUnavailable, PaymentDeclined, StripeRejected

logger = logging.getLogger("gatehouse.stripe")


_client = None


def _http_client():
    global _client
    if _client is None:
        _client = stripe.new_default_http_client(timeout=settings.STRIPE_TIMEOUT_SECONDS)
    return _client


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def call(operation: str, function, /, *args, idempotency_key: str | None = None, **params):
    """Run one SDK call with our key, version and timeout, translating its errors."""
    if not is_configured():
        raise BillingNotConfigured("Billing is not configured on this server.")
    stripe.default_http_client = _http_client()
    options = {"api_key": settings.STRIPE_SECRET_KEY, "stripe_version": settings.STRIPE_API_VERSION}
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    try:
        return function(*args, **options, **params)
    except stripe.CardError as error:
        raise PaymentDeclined(error.user_message or "The card was declined.") from error
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        _log_failure(operation, error)
        raise BillingUnavailable("Stripe could not be reached. Please try again in a few minutes.") from error
    except stripe.AuthenticationError as error:
        _log_failure(operation, error)
        raise BillingUnavailable("Billing is misconfigured on this server. Please contact support.") from error
    except stripe.InvalidRequestError as error:
        _log_failure(operation, error)
        raise StripeRejected(error.user_message or "Stripe refused the request.") from error
    except stripe.StripeError as error:
        _log_failure(operation, error)
        raise BillingUnavailable("Stripe is having trouble. Please try again in a few minutes.") from error


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
    return call(
        "product.create",
        stripe.Product.create,
        idempotency_key=idempotency_key,
        name=plan.name,
        active=plan.is_active,
        metadata={"plan_code": plan.code, "tier": plan.tier},
        marketing_features=[{"name": feature} for feature in plan.features][:15],
    )


def update_product(*, product_id: str, plan):
    return call(
        "product.update",
        stripe.Product.modify,
        product_id,
        name=plan.name,
        active=plan.is_active,
        metadata={"plan_code": plan.code, "tier": plan.tier},
        marketing_features=[{"name": feature} for feature in plan.features][:15],
    )


def create_price(*, plan, product_id: str, idempotency_key: str):
    return call(
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
    return call("price.archive", stripe.Price.modify, price_id, active=False)


# --- Customers, checkout, subscriptions -----------------------------------------------------


def create_checkout_session(*, customer_id, price_id, user, plan, success_url, cancel_url, idempotency_key):
    return call(
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


def retrieve_subscription(subscription_id: str):
    return call("subscription.retrieve", stripe.Subscription.retrieve, subscription_id)


def preview_price_change(*, customer_id, subscription_id, item_id, price_id, proration_date: int):
    return call(
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
    return call(
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
    return call(
        "subscription.cancel_at_period_end", stripe.Subscription.modify, subscription_id, cancel_at_period_end=cancel
    )


def create_portal_session(*, customer_id, return_url):
    return call("portal.create", stripe.billing_portal.Session.create, customer=customer_id, return_url=return_url)


def cancel_subscription_now(*, subscription_id: str, idempotency_key: str):
    return call("subscription.cancel", stripe.Subscription.cancel, subscription_id, idempotency_key=idempotency_key)


def refund_invoice(*, invoice_id: str, idempotency_key: str, metadata: dict):
    """Refund what was paid on one invoice in full; None when nothing on it was paid."""
    payments = call("invoice_payment.list", stripe.InvoicePayment.list, invoice=invoice_id, status="paid", limit=10)
    intents = [p["payment"].get("payment_intent") for p in payments["data"] if p["payment"].get("payment_intent")]
    if not intents:
        return None
    return call(
        "refund.create",
        stripe.Refund.create,
        idempotency_key=idempotency_key,
        payment_intent=intents[0],
        reason="duplicate",
        metadata=metadata,
    )


# --- Webhook endpoints ------------------------------------------------------------------------


def create_webhook_endpoint(*, url: str, enabled_events: list[str], metadata: dict, idempotency_key: str):
    return call(
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
    return call("webhook_endpoint.retrieve", stripe.WebhookEndpoint.retrieve, endpoint_id)
