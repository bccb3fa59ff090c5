"""Refusals of the billing workflows (billing.services, billing.stripe_gateway), each with its API status.

Stripe's own errors become these in stripe_gateway._call(); the portal shows their message, the
API answers with their status (503 unless said otherwise: an outside outage, never a 500).
"""

from config.errors import DomainError


class BillingError(DomainError):
    """Billing is not configured here, or Stripe is unreachable or refused the request."""

    status_code = 503
    # Stripe's error code when Stripe itself refused (e.g. "charge_already_refunded"), for staff and logs.
    stripe_code: str | None = None


class BillingNotConfigured(BillingError):
    message = "Billing is not configured on this server."


class BillingUnavailable(BillingError):
    """Stripe did not answer, or answered with a server error: try again later (503)."""


class PaymentDeclined(BillingError):
    """The card was declined (Stripe's 402)."""

    status_code = 402
    message = "The card was declined."


class StripeRejected(BillingError):
    """Stripe refused the request itself (a bug or a stale reference on our side)."""

    message = "Stripe refused the request."


class BillingRuleError(BillingError):
    """A business-rule refusal (already subscribed, same plan, nothing to resume...)."""

    status_code = 400


class AlreadySubscribed(BillingRuleError):
    status_code = 409


class PlanCodeTaken(BillingRuleError):
    status_code = 409
    message = "A plan with this code already exists."


class NotFound(BillingError):
    status_code = 404
