"""Beat's billing sweeps: end access that Stripe's webhooks forgot, and reconcile with Stripe.

Both only ever move an access record through ``billing.lifecycle`` (Stripe's word, compare-and-
set by ``stripe_updated_at``) or through the sweep's own compare-and-set below, so a sweep racing a
webhook or another sweep changes each record once and mails once.

The tasks that run these pass in ``resolve_duplicate`` (billing.tasks.resolve_duplicate_subscription):
this module is below billing.tasks and never imports it.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing import emails
from billing import stripe_gateway as gateway
from billing.exceptions import BillingUnavailable, StripeRejected
from billing.integrity import report_integrity
from billing.lifecycle import apply_stripe_subscription
from billing.models import (
    ACCESS_STATUSES,
    DuplicateRefund,
    ReconciliationRun,
    Subscription,
    SubscriptionStatus,
)
from mail.publish import publish

logger = logging.getLogger("gatehouse.billing")

SWEEP_BATCH_SIZE = 1000
# A duplicate's refund task normally finishes in seconds; one still unresolved after this lost its
# task (broker down) or exhausted its retries (Stripe down), and is dispatched again, for a week.
DUPLICATE_RETRY_AFTER = timedelta(minutes=10)
DUPLICATE_RETRY_FOR = timedelta(days=7)
# Reconciliation asks Stripe again about access our clock ended (Stripe silent) for this long.
RECHECK_ENDED_FOR = timedelta(days=7)
# What reconciliation compares and reports; the rest of the row is bookkeeping.
RECONCILED_FIELDS = (
    "status",
    "plan_id",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "canceled_at",
    "ended_at",
)


@dataclass
class SweepReport:
    checked: int = 0
    resynced: int = 0
    ended: int = 0
    batches: int = 0
    stripe_answering: bool = True
    ended_ids: list[int] = field(default_factory=list)
    # Ended by our clock while Stripe was silent: their "ended" mail waits for Stripe's word.
    mails_held: int = 0
    # Earlier such ends on which Stripe has now spoken (confirmed, mailed; or renewed, given back).
    held_settled: int = 0

    def as_log(self) -> dict:
        return {
            "checked": self.checked,
            "resynced": self.resynced,
            "ended": self.ended,
            "batches": self.batches,
            "stripe_answering": self.stripe_answering,
            "mails_held": self.mails_held,
            "held_settled": self.held_settled,
        }


class _Stripe:
    """Reads subscriptions from Stripe until the first outage, then stops asking for this run."""

    def __init__(self):
        self.configured = self.answering = gateway.is_configured()
        self.refused: set[str] = set()

    def subscription(self, stripe_subscription_id: str) -> dict | None:
        if not self.answering:
            return None
        try:
            return gateway.retrieve_subscription(stripe_subscription_id).to_dict()
        except BillingUnavailable:
            self.answering = False
        except StripeRejected:  # e.g. deleted in Stripe: our clock decides
            self.refused.add(stripe_subscription_id)
        return None

    def heard_about(self, stripe_subscription_id: str) -> bool:
        """Whether Stripe can speak to this record: it answered or refused, or there is no Stripe."""
        return not self.configured or stripe_subscription_id in self.refused


# --- Expiry sweep --------------------------------------------------------------------------------


def expired_subscriptions(*, now=None):
    """Records that still grant access although their paid period and the grace period are over.

    Duplicates (a second paid subscription) never grant access; billing.duplicates ends them.
    """
    cutoff = (now or timezone.now()) - settings.BILLING_GRACE_PERIOD
    return Subscription.objects.with_access().filter(current_period_end__lt=cutoff)


def sweep_expired_subscriptions(*, now=None, batch_size: int = SWEEP_BATCH_SIZE, resolve_duplicate=None) -> SweepReport:
    """End access past ``current_period_end`` + BILLING_GRACE_PERIOD, asking Stripe first when it answers.

    Works through the candidates in batches of ``batch_size`` (by id, so a run always ends);
    each batch is one SELECT, Stripe re-syncs for its rows while Stripe answers, then one
    compare-and-set UPDATE and one outbox INSERT for the mail.

    A record Stripe did not answer about (an outage) is ended by our clock all the same, but its
    "ended" mail is held (``end_mail_held``) until Stripe confirms the end: Stripe may have
    renewed it and lost the webhook, and the customer is not told of an end that did not happen.
    Each run, while Stripe answers, asks again about the held ones (settle_held_ends); the daily
    reconciliation does too.
    """
    now = now or timezone.now()
    report, stripe, after_id = SweepReport(), _Stripe(), 0
    while batch := _next_batch(now, after_id, batch_size):
        after_id = batch[-1][0]
        report.batches += 1
        report.checked += len(batch)
        answered = set()
        if stripe.answering:
            answered = {stripe_id for _pk, stripe_id in batch if _resync(stripe_id, stripe, now, resolve_duplicate)}
            report.resynced += len(answered)
        silent = {pk for pk, stripe_id in batch if stripe_id not in answered and not stripe.heard_about(stripe_id)}
        ended = end_expired(batch, now=now, hold_mail_for=silent)
        report.ended += len(ended)
        report.ended_ids += [pk for pk, _stripe_id in ended]
        report.mails_held += sum(pk in silent for pk, _stripe_id in ended)
    if stripe.answering:
        report.held_settled = settle_held_ends(stripe, now=now, limit=batch_size, resolve_duplicate=resolve_duplicate)
    report.stripe_answering = stripe.answering
    return report


def _next_batch(now, after_id: int, batch_size: int) -> list[tuple[int, str]]:
    candidates = expired_subscriptions(now=now).filter(pk__gt=after_id).order_by("pk")
    return list(candidates.values_list("pk", "stripe_subscription_id")[:batch_size])


def _resync(stripe_subscription_id: str, stripe: _Stripe, now, resolve_duplicate) -> bool:
    """Apply what Stripe says now (a renewal, or the end a lost webhook carried); True if it answered."""
    data = stripe.subscription(stripe_subscription_id)
    if data is None:
        return False
    with transaction.atomic():
        apply_stripe_subscription(data, seen_at=now, resolve_duplicate=resolve_duplicate)
    return True


def end_expired(batch: list[tuple[int, str]], *, now, hold_mail_for=()) -> list[tuple[int, str]]:
    """End the batch's records (id, Stripe id) still expired with access; the ones this call ended.

    The records in ``hold_mail_for`` (ids Stripe was silent about) are marked ``end_mail_held``
    in the same UPDATE and get no mail now (see sweep_expired_subscriptions).

    One compare-and-set for the whole batch, with the same keyed "ended" mail as a webhook's end,
    so a batch costs the same few queries whatever its size: one UPDATE ... WHERE id IN
    (batch) AND status IN (access) AND current_period_end < cutoff RETURNING id. A record that a
    webhook, a re-sync or another sweep moved first is not matched ("0 rows" for it), so each
    record is ended, and mailed about, once. The mails are stored in one INSERT and rendered when
    sent (rendering thousands of templates here would cost more than everything else together).
    """
    if not batch:
        return []
    cutoff = now - settings.BILLING_GRACE_PERIOD
    table = connection.ops.quote_name(Subscription._meta.db_table)
    ids, held = [pk for pk, _stripe_id in batch], list(hold_mail_for)
    if connection.vendor == "postgresql":
        # Arrays as single parameters: psycopg would otherwise spend a third of the sweep
        # turning a thousand placeholders into SQL text (profiled in bench/notes.md).
        where, args = "id = ANY(%s::bigint[]) AND status = ANY(%s::text[])", [ids, list(ACCESS_STATUSES)]
        hold, hold_args = "id = ANY(%s::bigint[])", [held]
    else:
        where = f"id IN ({', '.join(['%s'] * len(ids))}) AND status IN ({', '.join(['%s'] * len(ACCESS_STATUSES))})"
        args = [*ids, *ACCESS_STATUSES]
        hold, hold_args = (f"id IN ({', '.join(['%s'] * len(held))})", held) if held else ("1 = 0", [])
    sql = (
        f"UPDATE {table} SET status = %s, ended_at = %s, updated_at = %s, end_mail_held = {hold} "  # noqa: S608
        f"WHERE {where} AND current_period_end < %s RETURNING id, stripe_subscription_id, end_mail_held"
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, [SubscriptionStatus.CANCELED, now, now, *hold_args, *args, cutoff])
            rows = sorted(cursor.fetchall())
        ended = [(pk, stripe_id) for pk, stripe_id, _held in rows]
        emails.subscriptions_ended([(pk, stripe_id) for pk, stripe_id, held_mail in rows if not held_mail])
    if ended:
        logger.info(
            "subscriptions_access_ended",
            extra={"count": len(ended), "first": ended[0][0], "last": ended[-1][0], "reason": "expired"},
        )
    return ended


def settle_held_ends(stripe: "_Stripe", *, now, limit: int = SWEEP_BATCH_SIZE, resolve_duplicate=None) -> int:
    """Ask Stripe about ends our clock decided while it was silent; how many it settled.

    Stripe's word goes through the lifecycle, which mails "ended" if Stripe ended it too, and
    gives the access back without a word if Stripe renewed it. A subscription Stripe refuses to
    know (deleted there) leaves our clock's end standing: it is mailed now.
    """
    settled = 0
    held = Subscription.objects.filter(end_mail_held=True).order_by("pk").values_list("pk", "stripe_subscription_id")
    for pk, stripe_id in held[:limit]:
        data = stripe.subscription(stripe_id)
        if data is not None:
            with transaction.atomic():
                apply_stripe_subscription(data, seen_at=now, resolve_duplicate=resolve_duplicate)
            settled += not Subscription.objects.filter(pk=pk, end_mail_held=True).exists()
        elif stripe_id in stripe.refused:
            with transaction.atomic():
                if Subscription.objects.filter(pk=pk, end_mail_held=True).update(end_mail_held=False):
                    emails.subscriptions_ended([(pk, stripe_id)])
                    settled += 1
        if not stripe.answering:
            break
    return settled


# --- Duplicate subscriptions -----------------------------------------------------------------------


def retry_unresolved_duplicates(*, resolve_duplicate, now=None, limit: int = 100) -> int:
    """Dispatch ``resolve_duplicate`` (billing.resolve_duplicate_subscription) again for duplicates still not refunded.

    billing.lifecycle dispatches it once, after commit, and a broker outage loses it; the task
    is idempotent (Stripe idempotency keys, compare-and-set on duplicate_resolved_at), so a
    second dispatch of one that is merely slow does no harm. Stops at the first broker failure.
    Returns how many were dispatched.
    """
    now = now or timezone.now()
    stale = Subscription.objects.filter(
        duplicate_of__isnull=False,
        duplicate_resolved_at__isnull=True,
        updated_at__lt=now - DUPLICATE_RETRY_AFTER,
        created_at__gt=now - DUPLICATE_RETRY_FOR,
    ).exclude(refund__state=DuplicateRefund.State.NEEDS_STAFF)  # retrying cannot fix those: staff can
    dispatched = 0
    for pk in stale.order_by("pk").values_list("pk", flat=True)[:limit]:
        if not publish(resolve_duplicate, pk):
            break
        dispatched += 1
    return dispatched


# --- Reconciliation --------------------------------------------------------------------------------


def reconcile_subscriptions(*, now=None, resolve_duplicate=None) -> ReconciliationRun:
    """Compare every record with access with Stripe and apply Stripe's state where they differ.

    Also compared: records our own clock ended in the last RECHECK_ENDED_FOR (the expiry sweep
    while Stripe did not answer), so a renewal Stripe made meanwhile gives the access back.
    The run and each repair (field: [ours, Stripe's]) are stored for the admin. Stripe being
    unavailable stops the run (the task retries later); one record Stripe refuses is recorded
    as a failure and left as it is. Then the integrity report (report_integrity) lists what
    the repairs left wrong.
    """
    now = now or timezone.now()
    run = ReconciliationRun.objects.create(started_at=now)
    stripe = _Stripe()
    try:
        for pk, stripe_id in reconciliation_candidates(now=now).values_list("pk", "stripe_subscription_id"):
            _reconcile_one(run, stripe, pk, stripe_id, now, resolve_duplicate)
            if not stripe.answering:
                run.outcome = ReconciliationRun.Outcome.STRIPE_UNAVAILABLE
                break
        else:
            run.outcome = ReconciliationRun.Outcome.COMPLETED
        report_integrity(run, ask_stripe=stripe.answering)
    finally:
        if run.outcome == ReconciliationRun.Outcome.RUNNING:  # a time limit or a crash stopped it
            run.outcome = ReconciliationRun.Outcome.INTERRUPTED
        run.finished_at = timezone.now()
        run.save()
    return run


def reconciliation_candidates(*, now=None):
    """Records with access, and records ended by our clock (not by Stripe's word) lately or whose mail waits."""
    now = now or timezone.now()
    ended_by_our_clock = Q(
        status=SubscriptionStatus.CANCELED,
        ended_at__gte=now - RECHECK_ENDED_FOR,
        duplicate_of__isnull=True,
    ) & (Q(stripe_updated_at__isnull=True) | Q(stripe_updated_at__lt=F("ended_at")))
    lately_ended = Subscription.objects.filter(ended_by_our_clock | Q(end_mail_held=True))
    return (Subscription.objects.in_access_status() | lately_ended).order_by("pk")


def _reconcile_one(run: ReconciliationRun, stripe: _Stripe, pk: int, stripe_id: str, now, resolve_duplicate) -> None:
    before = _reconciled_values(pk)
    if before is None:  # deleted since the list was read
        return
    run.checked += 1
    data = stripe.subscription(stripe_id)
    if data is None:
        if stripe.answering:  # Stripe answered, but refused: e.g. a subscription it does not know
            run.failed += 1
            run.repairs.append({"subscription": pk, "stripe_subscription": stripe_id, "error": "refused by Stripe"})
        return
    with transaction.atomic():
        applied = apply_stripe_subscription(data, seen_at=now, resolve_duplicate=resolve_duplicate)
    if applied is None:
        run.failed += 1
        run.repairs.append({"subscription": pk, "stripe_subscription": stripe_id, "error": "not ours (owner/plan)"})
        return
    after = _reconciled_values(pk)
    changed = [name for name in RECONCILED_FIELDS if before[name] != after[name]]
    changes = {name: [_json(before[name]), _json(after[name])] for name in changed}
    if changes:
        run.repaired += 1
        run.repairs.append({"subscription": pk, "stripe_subscription": stripe_id, "changes": changes})


def _reconciled_values(pk: int) -> dict | None:
    return Subscription.objects.filter(pk=pk).values(*RECONCILED_FIELDS).first()


def _json(value):
    return value.isoformat() if hasattr(value, "isoformat") else value
