"""The expiry sweep: access ends at current_period_end + grace even when the webhook never came."""

import os
import threading
import time
from datetime import timedelta
from functools import partial

import pytest
from django.core import mail
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Profile, User
from billing import sweeps
from billing.models import Plan, Subscription, SubscriptionStatus
from billing.tasks import resolve_duplicate_subscription
from mail.models import OutboundEmail
from tests.billing.fake_billing import deliver, ensure_demo_plans, start_checkout
from tests.celery_worker import publishing_to
from tests.test_celery_worker import closed_port_url

pytestmark = pytest.mark.django_db

GRACE = timedelta(hours=24)


def ended_mails() -> list:
    return [message for message in mail.outbox if "has ended" in message.subject]


def make_subscriptions(count: int, *, period_end, prefix: str = "sub_sweep") -> list[Subscription]:
    """``count`` users, each with an active Pro record whose period ended at ``period_end`` (bulk, no Stripe)."""
    users = User.objects.bulk_create(
        User(username=f"{prefix}{n}", email=f"{prefix}{n}@example.com", password="!") for n in range(count)
    )
    Profile.objects.bulk_create(Profile(user=user) for user in users)
    plan = Plan.objects.get(code="pro-monthly")
    return Subscription.objects.bulk_create(
        Subscription(
            user=user,
            plan=plan,
            stripe_subscription_id=f"{prefix}_{n}",
            status=SubscriptionStatus.ACTIVE,
            current_period_start=period_end - timedelta(days=30),
            current_period_end=period_end,
        )
        for n, user in enumerate(users)
    )


def statuses() -> dict[str, str]:
    return dict(Subscription.objects.values_list("stripe_subscription_id", "status"))


# --- the lost webhook, against the fake Stripe ----------------------------------------------------


def test_it_ends_access_stripe_ended_when_the_webhook_was_lost(subscribed, fake, committing, settings):
    stripe_subscription, record = subscribed
    fake.end(stripe_subscription["id"])  # Stripe ended it; its webhook never reached us
    later = record.current_period_end + settings.BILLING_GRACE_PERIOD + timedelta(minutes=1)

    with committing():
        report = sweeps.sweep_expired_subscriptions(now=later)

    record.refresh_from_db()
    assert record.status == SubscriptionStatus.CANCELED
    assert record.ended_at is not None
    assert report.resynced == 1, "Stripe was asked first"
    assert [message.to for message in ended_mails()] == [["alice@example.com"]]


def test_it_keeps_access_stripe_renewed_when_the_webhook_was_lost(subscribed, fake, committing, settings):
    stripe_subscription, record = subscribed
    renewed = fake.renew(stripe_subscription["id"]).subscription
    later = record.current_period_end + settings.BILLING_GRACE_PERIOD + timedelta(minutes=1)

    with committing():
        report = sweeps.sweep_expired_subscriptions(now=later)

    record.refresh_from_db()
    assert record.status == SubscriptionStatus.ACTIVE
    assert record.current_period_end.timestamp() == renewed["items"]["data"][0]["current_period_end"]
    assert report.ended == 0
    assert ended_mails() == []


def test_with_stripe_down_it_ends_access_by_our_clock_and_holds_the_mail(subscribed, fake, committing, settings):
    _, record = subscribed
    other = make_subscriptions(2, period_end=record.current_period_end)
    fake.down()
    later = record.current_period_end + settings.BILLING_GRACE_PERIOD + timedelta(minutes=1)

    with committing():
        report = sweeps.sweep_expired_subscriptions(now=later)

    assert set(statuses().values()) == {SubscriptionStatus.CANCELED}
    assert report.ended == report.mails_held == 1 + len(other)
    assert report.stripe_answering is False
    assert len(fake.calls("GET", "/v1/subscriptions/*")) == 1, "one failed call, then no more for this run"
    assert ended_mails() == [], "Stripe may have renewed them: nobody is told yet"
    assert set(Subscription.objects.values_list("end_mail_held", flat=True)) == {True}


# --- an outage, then Stripe's word (issue 14, item 6) ----------------------------------------------


def swept_during_an_outage(fake, record, committing, settings):
    """The expiry sweep ran while Stripe was down; the moment it ran. Our clock ended the access."""
    fake.down()
    later = record.current_period_end + settings.BILLING_GRACE_PERIOD + timedelta(minutes=1)
    with committing():
        sweeps.sweep_expired_subscriptions(now=later)
    fake.up()
    record.refresh_from_db()
    assert (record.status, record.end_mail_held, ended_mails()) == (SubscriptionStatus.CANCELED, True, [])
    return later


def next_sweep(later, alice, endpoint, events):
    return sweeps.sweep_expired_subscriptions(now=later + timedelta(minutes=5))


def reconciliation(later, alice, endpoint, events):
    return sweeps.reconcile_subscriptions(now=later + timedelta(hours=1))


def stripes_webhook(later, alice, endpoint, events):
    assert {response.status_code for response in deliver(alice, endpoint, *events)} == {200}


STRIPE_SPEAKS = [
    pytest.param(next_sweep, id="the-next-sweep"),
    pytest.param(reconciliation, id="reconciliation"),
    pytest.param(stripes_webhook, id="stripes-webhook"),
]


@pytest.mark.parametrize("stripe_speaks", STRIPE_SPEAKS)
def test_when_stripe_had_renewed_the_access_comes_back_and_nobody_was_told_it_ended(
    alice, subscribed, fake, endpoint, committing, settings, stripe_speaks
):
    stripe_subscription, record = subscribed
    renewal = fake.renew(stripe_subscription["id"])  # its webhook was lost
    later = swept_during_an_outage(fake, record, committing, settings)

    with committing():
        stripe_speaks(later, alice, endpoint, renewal.events)

    record.refresh_from_db()
    assert (record.status, record.end_mail_held) == (SubscriptionStatus.ACTIVE, False)
    assert record.current_period_end.timestamp() == renewal.subscription["items"]["data"][0]["current_period_end"]
    assert ended_mails() == []
    assert [m.subject for m in mail.outbox if "has started" in m.subject] == []


@pytest.mark.parametrize("stripe_speaks", STRIPE_SPEAKS)
def test_when_stripe_had_ended_it_too_the_ended_mail_goes_once(
    alice, subscribed, fake, endpoint, committing, settings, stripe_speaks
):
    stripe_subscription, record = subscribed
    end = fake.end(stripe_subscription["id"])  # its webhook was lost
    later = swept_during_an_outage(fake, record, committing, settings)

    with committing():
        stripe_speaks(later, alice, endpoint, end.events)
        sweeps.sweep_expired_subscriptions(now=later + timedelta(minutes=10))
        sweeps.reconcile_subscriptions(now=later + timedelta(hours=2))

    record.refresh_from_db()
    assert (record.status, record.end_mail_held) == (SubscriptionStatus.CANCELED, False)
    assert [message.to for message in ended_mails()] == [["alice@example.com"]]


def test_a_held_end_that_stripe_no_longer_knows_is_mailed_once_stripe_answers(subscribed, fake, committing, settings):
    stripe_subscription, record = subscribed
    later = swept_during_an_outage(fake, record, committing, settings)
    fake.fail_next(404, method="GET", path_prefix=f"/v1/subscriptions/{stripe_subscription['id']}")

    with committing():
        report = sweeps.sweep_expired_subscriptions(now=later + timedelta(minutes=5))
        sweeps.sweep_expired_subscriptions(now=later + timedelta(minutes=10))

    assert report.held_settled == 1
    record.refresh_from_db()
    assert (record.status, record.end_mail_held) == (SubscriptionStatus.CANCELED, False)
    assert [message.to for message in ended_mails()] == [["alice@example.com"]]


def test_a_duplicate_whose_refund_task_was_lost_is_refunded_by_the_retry_sweep(alice, fake, endpoint, committing):
    sessions = start_checkout(alice, "pro-monthly"), start_checkout(alice, "business-monthly")
    first, second = (fake.complete_checkout(s) for s in sessions)
    with publishing_to(closed_port_url()), committing():  # the broker is down: the refund task is lost
        responses = deliver(alice, endpoint, *first.events, *second.events)
    assert {response.status_code for response in responses} == {200}, "the webhook still succeeds"
    extra = Subscription.objects.get(stripe_subscription_id=second.subscription["id"])
    assert extra.duplicate_of is not None
    assert extra.duplicate_resolved_at is None

    later = timezone.now() + sweeps.DUPLICATE_RETRY_AFTER + timedelta(minutes=1)
    retry = partial(sweeps.retry_unresolved_duplicates, resolve_duplicate=resolve_duplicate_subscription)
    assert retry(now=timezone.now()) == 0, "too early: its task may be on its way"
    with committing():
        assert retry(now=later) == 1
        assert retry(now=later) == 0

    extra.refresh_from_db()
    assert extra.duplicate_resolved_at is not None
    assert len(fake.all("refund")) == 1


# --- grace, idempotence, concurrency, volume (no Stripe configured: our clock decides) ----------------


def test_access_lasts_through_the_grace_period_and_ends_after_it(committing, settings):
    settings.BILLING_GRACE_PERIOD = timedelta(hours=2)
    now = timezone.now()
    make_subscriptions(1, period_end=now - timedelta(hours=1, minutes=59), prefix="in_grace")
    make_subscriptions(1, period_end=now - timedelta(hours=2, minutes=1), prefix="past_grace")
    make_subscriptions(1, period_end=now + timedelta(days=3), prefix="paid_up")

    with committing():
        report = sweeps.sweep_expired_subscriptions(now=now)

    assert statuses() == {"in_grace_0": "active", "past_grace_0": "canceled", "paid_up_0": "active"}
    assert report.ended == 1
    assert [message.to for message in ended_mails()] == [["past_grace0@example.com"]]


def test_a_second_sweep_changes_nothing_and_mails_nobody(committing):
    make_subscriptions(3, period_end=timezone.now() - GRACE - timedelta(hours=1))
    with committing():
        first = sweeps.sweep_expired_subscriptions()
        second = sweeps.sweep_expired_subscriptions()
    assert (first.ended, second.ended, second.checked) == (3, 0, 0)
    assert len(ended_mails()) == 3


def test_it_never_ends_a_duplicate_which_had_no_access_to_end(committing):
    holder, duplicate = make_subscriptions(2, period_end=timezone.now() - GRACE - timedelta(hours=1))
    Subscription.objects.filter(pk=duplicate.pk).update(duplicate_of=holder)
    with committing():
        sweeps.sweep_expired_subscriptions()
    assert statuses() == {holder.stripe_subscription_id: "canceled", duplicate.stripe_subscription_id: "active"}


def test_10000_expired_records_end_in_batches_of_constant_queries():
    make_subscriptions(10_000, period_end=timezone.now() - GRACE - timedelta(hours=1))
    started = time.monotonic()

    with CaptureQueriesContext(connection) as captured:
        report = sweeps.sweep_expired_subscriptions(batch_size=500)

    elapsed = time.monotonic() - started
    assert (report.ended, report.batches) == (10_000, 20)
    # Per batch, whatever its size:
    #   1. SELECT the next 500 expired records' (id, Stripe id) with access
    #   2. SAVEPOINT (the batch's transaction, nested in the test's)
    #   3. UPDATE billing_subscription ... WHERE id IN (...) AND status IN (...) RETURNING id, Stripe id
    #   4. INSERT the batch's mails, rendered when sent, into the outbox: one statement,
    #      ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
    #   5. RELEASE SAVEPOINT
    # and one last SELECT that finds no more records.
    assert len(captured) == report.batches * 5 + 1, [q["sql"][:80] for q in captured.captured_queries[:8]]
    assert OutboundEmail.objects.filter(dedupe_key__startswith="ended:").count() == 10_000
    print(f"swept 10,000 records in {elapsed:.1f}s, {len(captured)} queries")  # noqa: T201


def _require_postgres():
    if connection.vendor != "postgresql":
        reason = "concurrent sweeps need PostgreSQL's row locks (set DATABASE_URL)"
        if os.environ.get("GATEHOUSE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"GATEHOUSE_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_end_each_record_once_and_mail_once(monkeypatch):
    _require_postgres()
    ensure_demo_plans()  # an earlier transactional test's flush removed them
    make_subscriptions(40, period_end=timezone.now() - GRACE - timedelta(hours=1))

    # Both sweeps read the same batch before either ends anything: then they race on the UPDATE.
    both_read = threading.Barrier(2, timeout=20)
    end_expired = sweeps.end_expired

    def end_after_both_read(batch, **kwargs):
        both_read.wait()
        return end_expired(batch, **kwargs)

    monkeypatch.setattr(sweeps, "end_expired", end_after_both_read)
    reports, errors = [], []

    def sweep():
        try:
            reports.append(sweeps.sweep_expired_subscriptions())
        except Exception as error:  # surfaced below: an assertion in a thread would be lost
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(report.checked for report in reports) == [40, 40], "both saw every record"
    assert sum(report.ended for report in reports) == 40
    assert set(reports[0].ended_ids).isdisjoint(reports[1].ended_ids)
    assert set(statuses().values()) == {SubscriptionStatus.CANCELED}
    assert OutboundEmail.objects.count() == 40
    assert len(ended_mails()) == 40


def test_the_swept_mail_is_rendered_when_sent_and_dropped_if_access_came_back(committing):
    ended, renewed = make_subscriptions(2, period_end=timezone.now() - GRACE - timedelta(hours=1))
    with committing():
        sweeps.sweep_expired_subscriptions()
    assert [m.subject for m in ended_mails()] == ["[Gatehouse] Your Pro subscription has ended"] * 2
    assert ended_mails()[0].to == [ended.user.email]
    assert "Its features are no longer available on your account." in ended_mails()[0].body

    # A mail stored by the sweep but sent after a late renewal gave the access back is not sent.
    Subscription.objects.filter(pk=renewed.pk).update(status=SubscriptionStatus.PAST_DUE)
    row = OutboundEmail.objects.get(dedupe_key=f"ended:{renewed.stripe_subscription_id}")
    OutboundEmail.objects.filter(pk=row.pk).update(sent_at=None)
    mail.outbox.clear()
    from mail.tasks import send_email

    send_email(row.pk)
    row.refresh_from_db()
    assert mail.outbox == []
    assert (row.sent_at is not None, row.last_error) == (True, "not sent: no longer applies")
