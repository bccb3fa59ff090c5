"""Lifecycle mail: one function per fact, each rendered as subject, text and HTML into the outbox.

Called inside the transaction that records the fact; the mail leaves after commit (see
mail.outbox.store). Every mail about a Stripe fact carries a dedupe key, so the
same fact reported twice (a duplicate webhook, a sweep racing a webhook) mails once.
"""

from datetime import UTC, datetime

from allauth.account.adapter import get_adapter

from accounts.services import current_site
from billing.models import Subscription
from billing.money import format_price
from config.links import absolute_reverse
from mail import outbox
from mail.renderers import renderer

# The stable name stored with each queued "ended" mail (mail.renderers): keep it when the function moves.
ENDED_RENDERER = "billing.subscription_ended"


def _send(name: str, subscription, *, dedupe_key: str, **facts) -> bool:
    message = _render(name, subscription, **facts)
    return message is not None and outbox.store(message, dedupe_key=dedupe_key) is not None


def _render(name: str, subscription, **facts):
    user = subscription.user
    if not user.email:
        return None
    context = {
        "user": user,
        "plan": subscription.plan,
        "subscription": subscription,
        "current_site": current_site(),
        "subscription_url": absolute_reverse("billing_subscription"),
        "pricing_url": absolute_reverse("billing_pricing"),
        **facts,
    }
    return get_adapter().render_mail(f"billing/email/{name}", user.email, context)


def subscription_started(subscription) -> bool:
    return _send("subscription_started", subscription, dedupe_key=f"started:{subscription.stripe_subscription_id}")


def plan_changed(subscription, *, old_plan) -> bool:
    key = f"plan_changed:{subscription.stripe_subscription_id}:{old_plan.code}:{subscription.plan.code}"
    key += f":{int(subscription.stripe_updated_at.timestamp())}"
    return _send("plan_changed", subscription, dedupe_key=key, old_plan=old_plan)


def cancellation_scheduled(subscription) -> bool:
    when = subscription.canceled_at or subscription.current_period_end
    key = f"cancel_scheduled:{subscription.stripe_subscription_id}:{int(when.timestamp()) if when else 0}"
    return _send("cancellation_scheduled", subscription, dedupe_key=key)


def subscription_resumed(subscription, *, canceled_at) -> bool:
    """The scheduled end was taken back; keyed by the cancellation it undoes (one mail per cancel/resume)."""
    key = f"resumed:{subscription.stripe_subscription_id}:{int(canceled_at.timestamp()) if canceled_at else 0}"
    return _send("subscription_resumed", subscription, dedupe_key=key)


def subscription_ended(subscription) -> bool:
    return _send("subscription_ended", subscription, dedupe_key=f"ended:{subscription.stripe_subscription_id}")


def subscriptions_ended(ended: list[tuple[int, str]]) -> int:
    """subscription_ended for a whole sweep batch of (id, Stripe id): stored in two queries, rendered when sent."""
    mails = {f"ended:{stripe_id}": (ENDED_RENDERER, {"subscription_id": pk}) for pk, stripe_id in ended}
    return len(outbox.store_deferred(mails, to_hint="(subscription ended: rendered when sent)"))


@renderer(ENDED_RENDERER)
def render_ended(subscription_id: int):
    """The "ended" mail as of now; None if the record has access again (a late renewal) or is gone."""
    subscription = Subscription.objects.select_related("user", "plan").filter(pk=subscription_id).first()
    if subscription is None or subscription.grants_access:
        return None
    return _render("subscription_ended", subscription)


def subscription_renewed(subscription, *, invoice: dict) -> bool:
    return _send(
        "subscription_renewed",
        subscription,
        dedupe_key=f"renewed:{invoice['id']}",
        amount=format_price(invoice["amount_paid"], invoice["currency"]),
        paid_until=_invoice_period_end(invoice) or subscription.current_period_end,
        invoice_url=invoice.get("hosted_invoice_url") or "",
    )


def payment_failed(subscription, *, invoice: dict) -> bool:
    next_attempt = invoice.get("next_payment_attempt")
    return _send(
        "payment_failed",
        subscription,
        dedupe_key=f"payment_failed:{invoice['id']}:{invoice.get('attempt_count') or 0}",
        amount=format_price(invoice["amount_due"], invoice["currency"]),
        pay_url=invoice.get("hosted_invoice_url") or absolute_reverse("billing_subscription"),
        next_attempt=datetime.fromtimestamp(next_attempt, UTC) if next_attempt else None,
    )


def payment_action_required(subscription, *, invoice: dict) -> bool:
    return _send(
        "payment_action_required",
        subscription,
        dedupe_key=f"payment_action_required:{invoice['id']}:{invoice.get('attempt_count') or 0}",
        amount=format_price(invoice["amount_due"], invoice["currency"]),
        pay_url=invoice.get("hosted_invoice_url") or absolute_reverse("billing_subscription"),
    )


def duplicate_refunded(subscription, *, kept, refund_amount: int | None, currency: str) -> bool:
    return _send(
        "duplicate_refunded",
        subscription,
        dedupe_key=f"duplicate_refunded:{subscription.stripe_subscription_id}",
        kept=kept,
        refund=format_price(refund_amount, currency) if refund_amount else "",
    )


def _invoice_period_end(invoice: dict) -> datetime | None:
    lines = (invoice.get("lines") or {}).get("data") or []
    ends = [line["period"]["end"] for line in lines if line.get("period")]
    return datetime.fromtimestamp(max(ends), UTC) if ends else None
