"""The billing-integrity report of each daily reconciliation (billing.sweeps.reconcile_subscriptions).

After the repairs, what is still wrong between what people pay and what they may use here:
people billed without access, and access nobody pays for. Stored per run (billing.IntegrityFinding)
for staff, logged as one line with a count per kind; nothing here changes anything by itself.
"""

import logging

from django.contrib.auth import get_user_model
from djstripe.models import Customer

from billing import stripe_gateway as gateway
from billing.exceptions import BillingError
from billing.models import ENDED_STATUSES, DuplicateRefund, IntegrityFinding, ReconciliationRun, Subscription

logger = logging.getLogger("gatehouse.billing")

INTEGRITY_PAGE_SIZE = 100
Kind = IntegrityFinding.Kind


def report_integrity(run: ReconciliationRun, *, ask_stripe: bool = True) -> dict[str, int]:
    """Store, with the run, who is billed without access here and who has access nobody pays for.

    - inactive_billed: a deactivated account with a subscription Stripe still charges;
    - billed_without_record: an account here that Stripe charges for a subscription we have no
      record of (its webhook never arrived), so it gives no access;
    - unresolved_duplicate: a second paid subscription not yet canceled and refunded;
    - unowned_subscription: a live Stripe subscription whose customer is nobody here;
    - access_without_billing: access here whose subscription Stripe says is ended, or does not know.
    Stripe's side comes from one listing of every subscription (status=all, paged); when Stripe
    does not answer, only what our records show is reported. One log line per run with the counts.
    """
    remote = _stripe_subscriptions() if ask_stripe else None
    findings = [*_inactive_billed(remote), *_unresolved_duplicates()]
    if remote is not None:
        findings += [*_without_record(remote), *_unowned(remote), *_access_without_billing(remote)]
    for finding in findings:
        finding.run = run
    IntegrityFinding.objects.bulk_create(findings)
    counts = {kind: 0 for kind in Kind.values}
    for finding in findings:
        counts[finding.kind] += 1
    logger.info("billing_integrity", extra={"run": run.pk, "stripe_listed": remote is not None, **counts})
    return counts


def _stripe_subscriptions() -> dict[str, dict] | None:
    """Every Stripe subscription by id, with its owner here (a user id, or None); None if Stripe did not answer."""
    try:
        listed = {
            data["id"]: {
                "status": data["status"],
                "customer": gateway.stripe_id(data.get("customer")) or "",
                "metadata_user": str((data.get("metadata") or {}).get("user_id") or ""),
            }
            for data in gateway.list_subscriptions(page_size=INTEGRITY_PAGE_SIZE)
        }
    except BillingError:
        return None
    subscribers = dict(
        Customer.objects.filter(id__in={s["customer"] for s in listed.values()}).values_list("id", "subscriber_id")
    )
    claimed = {int(s["metadata_user"]) for s in listed.values() if s["metadata_user"].isdigit()}
    users = set(get_user_model().objects.filter(pk__in=claimed).values_list("pk", flat=True))
    for data in listed.values():
        by_metadata = int(data["metadata_user"]) if data["metadata_user"].isdigit() else None
        data["owner"] = by_metadata if by_metadata in users else subscribers.get(data["customer"])
    return listed


def _inactive_billed(remote: dict[str, dict] | None) -> list[IntegrityFinding]:
    inactive = get_user_model().objects.filter(is_active=False)
    if remote is None:  # Stripe silent: what our records say it still charges
        rows = Subscription.objects.filter(user__in=inactive).exclude(status__in=ENDED_STATUSES)
        return [
            IntegrityFinding(
                kind=Kind.INACTIVE_BILLED,
                user_id=row.user_id,
                stripe_subscription_id=row.stripe_subscription_id,
                stripe_customer_id=row.stripe_customer_id,
                stripe_status=row.status,
                detail="Per our records (Stripe did not answer): cancel it in Stripe.",
            )
            for row in rows
        ]
    owners = {data["owner"] for data in remote.values() if data["owner"] and data["status"] not in ENDED_STATUSES}
    deactivated = set(inactive.filter(pk__in=owners).values_list("pk", flat=True))
    return [
        IntegrityFinding(
            kind=Kind.INACTIVE_BILLED,
            user_id=data["owner"],
            stripe_subscription_id=stripe_id,
            stripe_customer_id=data["customer"],
            stripe_status=data["status"],
            detail="Stripe still charges a deactivated account: cancel it in Stripe.",
        )
        for stripe_id, data in remote.items()
        if data["owner"] in deactivated and data["status"] not in ENDED_STATUSES
    ]


def _without_record(remote: dict[str, dict]) -> list[IntegrityFinding]:
    live = {stripe_id: data for stripe_id, data in remote.items() if data["status"] not in ENDED_STATUSES}
    known = set(
        Subscription.objects.filter(stripe_subscription_id__in=live).values_list("stripe_subscription_id", flat=True)
    )
    owners = {data["owner"] for data in live.values() if data["owner"]}
    active = set(get_user_model().objects.filter(pk__in=owners, is_active=True).values_list("pk", flat=True))
    return [
        IntegrityFinding(
            kind=Kind.BILLED_WITHOUT_RECORD,
            user_id=data["owner"],
            stripe_subscription_id=stripe_id,
            stripe_customer_id=data["customer"],
            stripe_status=data["status"],
            detail="Stripe charges this account for a subscription we have no record of: it gives no access here.",
        )
        for stripe_id, data in live.items()
        if data["owner"] in active and stripe_id not in known
    ]


def _unresolved_duplicates() -> list[IntegrityFinding]:
    rows = Subscription.objects.filter(duplicate_of__isnull=False, duplicate_resolved_at__isnull=True)
    refunds = {r.subscription_id: r for r in DuplicateRefund.objects.filter(subscription__in=rows)}
    return [
        IntegrityFinding(
            kind=Kind.UNRESOLVED_DUPLICATE,
            user_id=row.user_id,
            stripe_subscription_id=row.stripe_subscription_id,
            stripe_customer_id=row.stripe_customer_id,
            stripe_status=row.status,
            detail=_duplicate_detail(refunds.get(row.pk)),
        )
        for row in rows.order_by("pk")
    ]


def _duplicate_detail(refund: DuplicateRefund | None) -> str:
    if refund is None:
        return "Not canceled and refunded yet (its task has not succeeded)."
    if refund.state == DuplicateRefund.State.NEEDS_STAFF:
        return f"Refund needs staff: {refund.last_error}"
    return f"Refund being retried ({refund.failures} failed attempts): {refund.last_error}"


def _unowned(remote: dict[str, dict]) -> list[IntegrityFinding]:
    return [
        IntegrityFinding(
            kind=Kind.UNOWNED_SUBSCRIPTION,
            stripe_subscription_id=stripe_id,
            stripe_customer_id=data["customer"],
            stripe_status=data["status"],
            detail="Stripe charges a customer who is nobody here.",
        )
        for stripe_id, data in remote.items()
        if data["owner"] is None and data["status"] not in ENDED_STATUSES
    ]


def _access_without_billing(remote: dict[str, dict]) -> list[IntegrityFinding]:
    findings = []
    for row in Subscription.objects.with_access().order_by("pk"):
        data = remote.get(row.stripe_subscription_id)
        if data is not None and data["status"] not in ENDED_STATUSES:
            continue
        findings.append(
            IntegrityFinding(
                kind=Kind.ACCESS_WITHOUT_BILLING,
                user_id=row.user_id,
                stripe_subscription_id=row.stripe_subscription_id,
                stripe_customer_id=row.stripe_customer_id,
                stripe_status=data["status"] if data else "",
                detail=f"Stripe says {data['status']}." if data else "Stripe does not know this subscription.",
            )
        )
    return findings
