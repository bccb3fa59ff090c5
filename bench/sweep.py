"""The expiry-sweep row of `make bench`: 100,000 records past their period and grace, ended by one sweep.

Runs in bench/run.py's process after the HTTP rows, as beat's task runs in a Celery worker:
billing.sweeps.sweep_expired_subscriptions() over records bulk-created here (each of its own user,
since a user holds at most one record with access). Stripe is not asked during the row (no key
for the sweep, as in tests/billing/test_sweeps.py): with Stripe answering, the sweep re-syncs
every expired record from Stripe first, one API call per record.
"""

import time
from contextlib import nullcontext
from datetime import timedelta
from unittest import mock

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from accounts.models import Profile
from billing.models import Plan, Subscription, SubscriptionStatus

BATCH = 5_000


def make_due_subscriptions(count: int, prefix: str = "due") -> None:
    """`count` users, each with an active Pro record whose period and grace ended an hour ago."""
    user_model = get_user_model()
    period_end = timezone.now() - settings.BILLING_GRACE_PERIOD - timedelta(hours=1)
    plan = Plan.objects.get(code="pro-monthly")
    unusable = make_password(None)  # they never sign in
    with transaction.atomic():
        users = user_model.objects.bulk_create(
            (
                user_model(username=f"{prefix}{n:06d}", email=f"{prefix}{n:06d}@example.com", password=unusable)
                for n in range(count)
            ),
            batch_size=BATCH,
        )
        Profile.objects.bulk_create((Profile(user=user) for user in users), batch_size=BATCH)
        Subscription.objects.bulk_create(
            (
                Subscription(
                    user=user,
                    plan=plan,
                    stripe_subscription_id=f"sub_{prefix}{n:06d}",
                    stripe_customer_id=f"cus_{prefix}{n:06d}",
                    status=SubscriptionStatus.ACTIVE,
                    current_period_start=period_end - timedelta(days=30),
                    current_period_end=period_end,
                    stripe_updated_at=period_end - timedelta(days=30),
                )
                for n, user in enumerate(users)
            ),
            batch_size=BATCH,
        )


def sweep(expected: int, *, prefix: str = "due", without_mail: bool = False) -> dict:
    """One sweep, timed, its queries counted; the figures of the row.

    `without_mail` replaces the "access ended" mail (rendered and published per record) with
    nothing, to show what the sweep's own database work costs: a diagnosis, not the product.
    """
    from billing import emails
    from billing.sweeps import sweep_expired_subscriptions

    mail = mock.patch.object(emails, "subscriptions_ended", return_value=0) if without_mail else nullcontext()
    with mail, override_settings(STRIPE_SECRET_KEY=""), CaptureQueriesContext(connection) as captured:
        started = time.monotonic()
        report = sweep_expired_subscriptions()
        elapsed = time.monotonic() - started
    per_batch = _queries_per_batch([query["sql"] for query in captured.captured_queries])
    return {
        "ended": report.ended,
        "expected": expected,
        "batches": report.batches,
        "queries": len(captured),
        "queries_per_batch": sorted(set(per_batch[:-1])),  # the last "batch" is the SELECT that finds none
        "constant": len(set(per_batch[:-1])) == 1 and per_batch[-1] == 1,
        "elapsed_s": elapsed,
        "rps": report.ended / elapsed if elapsed else 0,
        "left_with_access": Subscription.objects.filter(
            stripe_subscription_id__startswith=f"sub_{prefix}", status=SubscriptionStatus.ACTIVE
        ).count(),
    }


def _queries_per_batch(sqls: list[str]) -> list[int]:
    """Statements per batch: a batch starts with the SELECT of the next expired records."""
    counts = []
    for sql in sqls:
        if sql.startswith("SELECT") and 'FROM "billing_subscription"' in sql and "LIMIT" in sql:
            counts.append(0)
        if counts:
            counts[-1] += 1
    return counts
