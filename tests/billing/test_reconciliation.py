"""Daily reconciliation: our access records against Stripe, drift repaired and reported."""

import logging
from datetime import timedelta

import pytest
from django.core import mail

from billing import stripe_gateway as gateway
from billing import sweeps
from billing.models import ReconciliationRun, SubscriptionStatus
from billing.tasks import reconcile_subscriptions as reconcile_task
from tests.billing.fake_billing import row
from tests.mfa_helpers import sign_in_with_second_factor

pytestmark = pytest.mark.django_db


def test_records_that_agree_with_stripe_are_left_alone(subscribed):
    _, record = subscribed
    before = row(record)

    run = sweeps.reconcile_subscriptions()

    assert (run.outcome, run.checked, run.repaired, run.failed) == ("completed", 1, 0, 0)
    assert run.repairs == []
    assert {k: v for k, v in row(record).items() if k in sweeps.RECONCILED_FIELDS} == {
        k: v for k, v in before.items() if k in sweeps.RECONCILED_FIELDS
    }


def test_a_renewal_whose_webhook_was_lost_is_applied_and_reported(subscribed, fake):
    stripe_subscription, record = subscribed
    renewed = fake.renew(stripe_subscription["id"]).subscription

    run = sweeps.reconcile_subscriptions()

    record.refresh_from_db()
    assert record.current_period_end.timestamp() == renewed["items"]["data"][0]["current_period_end"]
    assert (run.repaired, run.failed) == (1, 0)
    (repair,) = run.repairs
    assert repair["subscription"] == record.pk
    assert repair["stripe_subscription"] == stripe_subscription["id"]
    assert set(repair["changes"]) == {"current_period_start", "current_period_end"}


def test_a_cancellation_scheduled_in_stripe_alone_is_applied(subscribed, fake):
    stripe_subscription, record = subscribed
    gateway.set_cancel_at_period_end(subscription_id=stripe_subscription["id"], cancel=True)

    run = sweeps.reconcile_subscriptions()

    record.refresh_from_db()
    assert record.cancel_at_period_end is True
    assert run.repairs[0]["changes"]["cancel_at_period_end"] == [False, True]


def test_a_subscription_stripe_ended_loses_access_with_one_mail(subscribed, fake, committing):
    stripe_subscription, record = subscribed
    fake.end(stripe_subscription["id"])

    with committing():
        sweeps.reconcile_subscriptions()
        sweeps.reconcile_subscriptions()  # the second run finds nothing with access

    record.refresh_from_db()
    assert record.status == SubscriptionStatus.CANCELED
    assert len([m for m in mail.outbox if "has ended" in m.subject]) == 1
    assert list(ReconciliationRun.objects.values_list("checked", "repaired")) == [(0, 0), (1, 1)]


def test_a_record_stripe_does_not_know_is_reported_and_left_as_it_is(subscribed, fake):
    _, record = subscribed
    record.stripe_subscription_id = "sub_unknown_to_stripe"
    record.save()

    run = sweeps.reconcile_subscriptions()

    assert (run.outcome, run.failed, run.repaired) == ("completed", 1, 0)
    assert run.repairs == [
        {"subscription": record.pk, "stripe_subscription": "sub_unknown_to_stripe", "error": "refused by Stripe"}
    ]
    record.refresh_from_db()
    assert record.status == SubscriptionStatus.ACTIVE


def test_with_stripe_down_the_run_stops_and_says_so(subscribed, fake):
    fake.down()
    run = sweeps.reconcile_subscriptions()
    assert (run.outcome, run.repaired) == (ReconciliationRun.Outcome.STRIPE_UNAVAILABLE, 0)
    assert run.finished_at is not None


def test_the_task_logs_one_line_with_what_it_repaired(subscribed, fake, caplog):
    stripe_subscription, record = subscribed
    fake.renew(stripe_subscription["id"])
    caplog.set_level(logging.INFO, logger="gatehouse.tasks")

    reconcile_task.apply()

    (line,) = [r for r in caplog.records if getattr(r, "task", None) == "billing.reconcile_subscriptions"]
    assert (line.result, line.checked, line.repaired, line.repaired_subscriptions) == ("completed", 1, 1, [record.pk])


def test_the_admin_shows_a_run_and_its_repairs_read_only(client, staff):
    run = ReconciliationRun.objects.create(
        started_at="2026-11-24T03:30:00Z",
        outcome="completed",
        checked=2,
        repaired=1,
        repairs=[{"subscription": 7, "stripe_subscription": "sub_123", "changes": {"status": ["active", "canceled"]}}],
    )
    sign_in_with_second_factor(client, staff)

    page = client.get(f"/admin/billing/reconciliationrun/{run.pk}/change/")

    assert page.status_code == 200
    assert "sub_123" in page.text
    assert "status: active → canceled" in page.text
    assert client.get("/admin/billing/reconciliationrun/add/").status_code == 403
    assert 'name="_save"' not in page.text


def test_access_our_clock_ended_while_stripe_was_down_comes_back_if_stripe_renewed(subscribed, fake, settings):
    stripe_subscription, record = subscribed
    renewed = fake.renew(stripe_subscription["id"]).subscription  # its webhook was lost
    fake.down()
    later = record.current_period_end + settings.BILLING_GRACE_PERIOD + timedelta(minutes=1)
    sweeps.sweep_expired_subscriptions(now=later)
    record.refresh_from_db()
    assert record.status == SubscriptionStatus.CANCELED, "Stripe did not answer: our clock ended it"

    fake.up()
    run = sweeps.reconcile_subscriptions(now=later + timedelta(hours=1))

    record.refresh_from_db()
    assert record.status == SubscriptionStatus.ACTIVE
    assert record.current_period_end.timestamp() == renewed["items"]["data"][0]["current_period_end"]
    assert run.repairs[0]["changes"]["status"] == ["canceled", "active"]
    assert sweeps.reconcile_subscriptions(now=later + timedelta(hours=2)).repaired == 0
