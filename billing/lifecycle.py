"""Stripe's word on a subscription becomes our access record, its mail and its history.

Every path that learns a subscription's state (webhook, the portal's own calls, the sweep,
reconciliation) ends here. Rules:
- compare-and-set: a description of the subscription read from Stripe at ``seen_at`` never
  overwrites one read later (``stripe_updated_at``), so late or reordered news cannot move state
  backwards;
- one row with access per user: the owner's row is locked first, so two subscriptions arriving
  at once (two Checkout tabs) are decided one after the other; the second becomes a duplicate
  that never grants access and is canceled and refunded in Stripe by a task after commit (the
  caller passes that task in: this module is below billing.tasks and never imports it);
- mail is decided from the transition (before -> after) and keyed, so a fact mails once; an end
  our clock decided while Stripe was silent is mailed only once Stripe confirms it.
Callers run this inside their transaction (dj-stripe's webhook transaction, or their own).
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from djstripe.models import Customer

from billing import emails
from billing.models import ACCESS_STATUSES, Plan, Subscription, SubscriptionStatus
from billing.stripe_gateway import stripe_id
from mail.publish import enqueue_on_commit

logger = logging.getLogger("gatehouse.billing")


@dataclass(frozen=True)
class _Before:
    status: str
    plan: Plan
    cancel_at_period_end: bool
    canceled_at: datetime | None
    grants_access: bool
    end_mail_held: bool


def apply_stripe_subscription(
    data: dict, *, seen_at: datetime, resolve_duplicate=None, notify: bool = True
) -> Subscription | None:
    """Apply a Stripe subscription (API shape) read at ``seen_at``; returns our row, or None if not ours.

    ``notify=False`` when the caller's own mail tells the person (deactivation says the plan ended).

    ``resolve_duplicate`` is the task (billing.tasks.resolve_duplicate_subscription) published after
    commit when this makes the row a duplicate; without one, billing.sweeps' retry finds it later.
    """
    user_id = _owner_id(data)
    plan = _plan_for(data)
    if user_id is None or plan is None:
        logger.warning(
            "subscription_not_ours",
            extra={
                "stripe_subscription": data.get("id"),
                "has_owner": user_id is not None,
                "has_plan": plan is not None,
            },
        )
        return None
    with transaction.atomic():
        # Everything that changes one user's access queues here, so "who holds access" is decided once.
        get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True).first()
        row = Subscription.objects.select_for_update().filter(stripe_subscription_id=data["id"]).first()
        if row is not None and row.stripe_updated_at is not None and seen_at < row.stripe_updated_at:
            _log(row, "stale", seen_at=seen_at)
            return row
        before = _before(row)
        if row is None:
            row = Subscription(user_id=user_id, stripe_subscription_id=data["id"])
        _assign(row, data, plan, seen_at)
        newly_duplicate = _mark_if_duplicate(row)
        row.save()
        if newly_duplicate:
            if resolve_duplicate is not None:
                # The state is committed first; a broker outage only delays the refund (the retry sweep).
                enqueue_on_commit(resolve_duplicate, row.pk)
            _log(row, "duplicate", seen_at=seen_at)
        else:
            if notify:
                _notify(before, row)
            _log(row, "applied", seen_at=seen_at, before=before.status if before else None)
    return row


def record_stripe_answer(
    remote, *, read_at: datetime, resolve_duplicate=None, notify: bool = True
) -> Subscription | None:
    """Stripe's answer to our own change, recorded now (and its mail), as read at ``read_at``.

    ``read_at`` is taken before the request that brought the answer: Stripe read the subscription
    after it. The webhook that follows finds nothing new; one that was already under way began
    reading Stripe earlier and loses the compare-and-set, however late its answer arrives.
    """
    data = remote.to_dict() if hasattr(remote, "to_dict") else dict(remote)
    with transaction.atomic():
        return apply_stripe_subscription(data, seen_at=read_at, resolve_duplicate=resolve_duplicate, notify=notify)


def invoice_paid(invoice: dict) -> None:
    """A paid renewal invoice mails a receipt (the subscription's own state comes from its events)."""
    if invoice.get("billing_reason") != "subscription_cycle":
        return
    row = _row_for_invoice(invoice)
    if row is not None and row.grants_access:
        emails.subscription_renewed(row, invoice=invoice)


def invoice_payment_failed(invoice: dict) -> None:
    row = _row_for_invoice(invoice)
    if _still_billed(row):
        emails.payment_failed(row, invoice=invoice)


def invoice_payment_action_required(invoice: dict) -> None:
    """The bank wants the customer to confirm the payment (3-D Secure): only they can, so tell them."""
    row = _row_for_invoice(invoice)
    if _still_billed(row) and invoice.get("status") == "open":
        emails.payment_action_required(row, invoice=invoice)


def _still_billed(row: Subscription | None) -> bool:
    ended = (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)
    return row is not None and row.duplicate_of_id is None and row.status not in ended


def stripe_time(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def subscription_id_of_invoice(invoice: dict) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription = details.get("subscription") or invoice.get("subscription")
    return stripe_id(subscription)


# --- internals ----------------------------------------------------------------------------------


def _owner_id(data: dict) -> int | None:
    """Our user: the id we put in the subscription's metadata at Checkout, else dj-stripe's customer link."""
    raw = (data.get("metadata") or {}).get("user_id")
    if raw and str(raw).isdigit() and get_user_model().objects.filter(pk=int(raw)).exists():
        return int(raw)
    return Customer.objects.filter(id=stripe_id(data.get("customer"))).values_list("subscriber_id", flat=True).first()


def _plan_for(data: dict) -> Plan | None:
    """The plan whose current or earlier Stripe price this is (repricing keeps the product)."""
    items = (data.get("items") or {}).get("data") or []
    if not items:
        return None
    price = items[0]["price"]
    return (
        Plan.objects.filter(stripe_price_id=price["id"]).first()
        or Plan.objects.filter(stripe_product_id=stripe_id(price.get("product"))).first()
    )


def _assign(row: Subscription, data: dict, plan: Plan, seen_at: datetime) -> None:
    item = data["items"]["data"][0]
    row.plan = plan
    row.stripe_customer_id = stripe_id(data.get("customer")) or ""
    row.status = data["status"]
    # Current API versions keep the period on the items; older ones on the subscription.
    row.current_period_start = stripe_time(item.get("current_period_start") or data.get("current_period_start"))
    row.current_period_end = stripe_time(item.get("current_period_end") or data.get("current_period_end"))
    row.cancel_at_period_end = bool(data.get("cancel_at_period_end") or data.get("cancel_at"))
    row.canceled_at = stripe_time(data.get("canceled_at"))
    row.ended_at = stripe_time(data.get("ended_at"))
    row.stripe_updated_at = seen_at
    row.end_mail_held = False  # Stripe has spoken: _notify tells what it said


def _mark_if_duplicate(row: Subscription) -> bool:
    if row.duplicate_of_id is not None or row.status not in ACCESS_STATUSES:
        return False
    holder = Subscription.objects.with_access().filter(user_id=row.user_id).exclude(pk=row.pk).first()
    row.duplicate_of = holder
    return holder is not None


def _before(row: Subscription | None) -> _Before | None:
    if row is None:
        return None
    return _Before(
        row.status, row.plan, row.cancel_at_period_end, row.canceled_at, row.grants_access, row.end_mail_held
    )


def _notify(before: _Before | None, row: Subscription) -> None:
    if before is not None and before.end_mail_held:
        # Our clock ended the access while Stripe was silent and nobody was told yet: Stripe now
        # confirms the end (mail it), or gives the access back (nothing ended, nothing to say).
        if not row.grants_access:
            emails.subscription_ended(row)
        return
    had_access = before is not None and before.grants_access
    if row.grants_access and not had_access:
        if before is None or before.status not in (SubscriptionStatus.CANCELED, SubscriptionStatus.UNPAID):
            emails.subscription_started(row)
    elif had_access and not row.grants_access:
        emails.subscription_ended(row)
    elif had_access and row.grants_access:
        if before.plan.pk != row.plan_id:
            emails.plan_changed(row, old_plan=before.plan)
        if row.cancel_at_period_end and not before.cancel_at_period_end:
            emails.cancellation_scheduled(row)
        elif before.cancel_at_period_end and not row.cancel_at_period_end:
            emails.subscription_resumed(row, canceled_at=before.canceled_at)


def _row_for_invoice(invoice: dict) -> Subscription | None:
    subscription_id = subscription_id_of_invoice(invoice)
    if not subscription_id:
        return None
    return Subscription.objects.select_related("user", "plan").filter(stripe_subscription_id=subscription_id).first()


def _log(row: Subscription, result: str, **extra) -> None:
    logger.info(
        "subscription_state",
        extra={
            "result": result,
            "subscription": row.pk,
            "stripe_subscription": row.stripe_subscription_id,
            "status": row.status,
            **{key: (value.isoformat() if isinstance(value, datetime) else value) for key, value in extra.items()},
        },
    )
