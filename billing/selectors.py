"""Reads that billing pages and the API share."""

from dataclasses import dataclass, replace

from django.conf import settings
from django.db.models.fields.json import KeyTransform
from django.utils import formats
from djstripe.models import Invoice

from billing import stripe_gateway
from billing.access import access_subscription
from billing.models import TIER_RANK, Plan, Subscription, Tier

# What the billing history page and payments/me show of an invoice, besides its ids and date.
INVOICE_FIELDS = ("number", "amount_due", "currency", "status", "hosted_invoice_url", "invoice_pdf")


def invoices_for(user, *, limit: int = 100) -> list[dict]:
    """The user's invoices from dj-stripe's mirror, newest first, in one query.

    Rows of the shown fields only: the database picks them out of each invoice's stored Stripe
    object (a few KB of JSON), so a page of invoices neither transfers nor decodes the rest.
    """
    fields = {name: KeyTransform(name, "stripe_data") for name in INVOICE_FIELDS}
    return list(
        Invoice.objects.filter(customer__subscriber=user, livemode=settings.STRIPE_LIVE_MODE)
        .order_by("-created")
        .values("djstripe_id", "id", "created", "subscription_id", **fields)[:limit]
    )


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
    if not stripe_gateway.is_configured():
        return PlanCard(plan, "none", label, reason="Paid plans are not available yet.")
    if not plan.stripe_price_id:
        reason = "Not on sale yet: staff have not synced this plan to Stripe." if user.is_staff else "Not on sale yet."
        return PlanCard(plan, "none", label, reason=reason)
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
