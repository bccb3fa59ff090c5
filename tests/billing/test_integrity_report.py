"""The daily reconciliation's integrity report: people billed without access here, and access here
nobody pays for, stored per run, logged in one line and listed for staff (billing.integrity.report_integrity)."""

import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing import integrity, sweeps
from billing.models import IntegrityFinding, Plan, ReconciliationRun, Subscription
from billing.tasks import reconcile_subscriptions as reconcile_task
from tests.billing.fake_billing import paid_twice, start_checkout, subscribe_through_fake
from tests.factories import UserFactory
from tests.mfa_helpers import sign_in_with_second_factor

pytestmark = pytest.mark.django_db

Kind = IntegrityFinding.Kind


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def drift(fake, endpoint):
    """One of each thing the report must find, and one customer with nothing wrong."""
    cast = {
        name: UserFactory(username=name, email=f"{name}@example.com") for name in ("ann", "bob", "cat", "dan", "eve")
    }
    ann_sub, _ = subscribe_through_fake(signed_in(cast["ann"]), cast["ann"], fake)
    type(cast["ann"]).objects.filter(pk=cast["ann"].pk).update(is_active=False)  # deactivated, still charged
    bob_sub, _ = subscribe_through_fake(signed_in(cast["bob"]), cast["bob"], fake)
    cast["bob"].delete()  # gone here; Stripe still charges his customer
    _kept, cat_extra = paid_twice(signed_in(cast["cat"]), fake, endpoint)  # refund task not run
    Subscription.objects.create(  # access here for a subscription Stripe never had
        user=cast["dan"],
        plan=Plan.objects.get(code="pro-monthly"),
        stripe_subscription_id="sub_unknown_to_stripe",
        status="active",
        current_period_end=timezone.now() + timedelta(days=20),
    )
    subscribe_through_fake(signed_in(cast["eve"]), cast["eve"], fake)  # all in order
    fay = UserFactory(username="fay", email="fay@example.com")
    fay_paid = fake.complete_checkout(start_checkout(signed_in(fay)))  # its webhook never arrived
    fake.requests.clear()
    return {
        "ann": (cast["ann"], ann_sub.subscription["id"]),
        "bob": bob_sub,
        "cat": (cast["cat"], cat_extra.subscription["id"]),
        "dan": cast["dan"],
        "fay": (fay, fay_paid.subscription["id"]),
    }


def found(run) -> set[tuple]:
    return {(f.kind, f.user_id, f.stripe_subscription_id) for f in IntegrityFinding.objects.filter(run=run)}


def test_the_daily_reconciliation_reports_billing_without_access_and_access_without_billing(drift, fake, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.billing")
    ann, ann_sub = drift["ann"]
    cat, cat_sub = drift["cat"]
    fay, fay_sub = drift["fay"]

    reconcile_task.apply()

    run = ReconciliationRun.objects.get()
    assert run.outcome == ReconciliationRun.Outcome.COMPLETED
    assert found(run) == {
        (Kind.INACTIVE_BILLED, ann.pk, ann_sub),
        (Kind.BILLED_WITHOUT_RECORD, fay.pk, fay_sub),
        (Kind.UNRESOLVED_DUPLICATE, cat.pk, cat_sub),
        (Kind.UNOWNED_SUBSCRIPTION, None, drift["bob"].subscription["id"]),
        (Kind.ACCESS_WITHOUT_BILLING, drift["dan"].pk, "sub_unknown_to_stripe"),
    }
    unowned = IntegrityFinding.objects.get(kind=Kind.UNOWNED_SUBSCRIPTION)
    assert (unowned.stripe_customer_id, unowned.stripe_status) == (drift["bob"].customer["id"], "active")
    assert IntegrityFinding.objects.get(kind=Kind.ACCESS_WITHOUT_BILLING).detail == (
        "Stripe does not know this subscription."
    )
    assert IntegrityFinding.objects.get(kind=Kind.UNRESOLVED_DUPLICATE).detail == (
        "Not canceled and refunded yet (its task has not succeeded)."
    )
    (line,) = [r for r in caplog.records if r.getMessage() == "billing_integrity"]
    assert (line.run, line.stripe_listed) == (run.pk, True)
    assert [getattr(line, kind) for kind in Kind.values] == [1, 1, 1, 1, 1]
    (listing,) = fake.calls("GET", "/v1/subscriptions")
    assert (listing.params["status"], listing.params["limit"]) == ("all", 100)


def test_access_stripe_says_is_ended_is_reported_when_it_cannot_be_repaired(fake, endpoint):
    dan = UserFactory(username="dan", email="dan@example.com")
    done, record = subscribe_through_fake(signed_in(dan), dan, fake)
    fake.end(done.subscription["id"])
    Plan.objects.filter(pk=record.plan_id).update(stripe_price_id=None, stripe_product_id=None)  # not ours any more

    run = sweeps.reconcile_subscriptions()

    (finding,) = IntegrityFinding.objects.filter(run=run)
    assert (finding.kind, finding.user_id, finding.stripe_status) == (Kind.ACCESS_WITHOUT_BILLING, dan.pk, "canceled")
    assert finding.detail == "Stripe says canceled."


def test_it_reads_every_page_of_stripes_subscriptions(drift, fake, monkeypatch):
    monkeypatch.setattr(integrity, "INTEGRITY_PAGE_SIZE", 2)

    run = sweeps.reconcile_subscriptions()

    pages = fake.calls("GET", "/v1/subscriptions")
    assert len(pages) == 3  # 6 subscriptions in Stripe (ann, bob, cat's two, eve, fay), 2 a page
    assert "starting_after" not in pages[0].params
    assert all(page.params.get("starting_after") for page in pages[1:])
    assert len(found(run)) == 5


def test_a_run_with_nothing_wrong_reports_nothing(subscribed, fake, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.billing")

    run = sweeps.reconcile_subscriptions()

    assert found(run) == set()
    (line,) = [r for r in caplog.records if r.getMessage() == "billing_integrity"]
    assert [getattr(line, kind) for kind in Kind.values] == [0, 0, 0, 0, 0]


def test_with_stripe_down_it_reports_what_our_records_show(drift, fake, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.billing")
    ann, ann_sub = drift["ann"]
    cat, cat_sub = drift["cat"]
    fake.down()

    run = sweeps.reconcile_subscriptions()

    assert run.outcome == ReconciliationRun.Outcome.STRIPE_UNAVAILABLE
    assert found(run) == {(Kind.INACTIVE_BILLED, ann.pk, ann_sub), (Kind.UNRESOLVED_DUPLICATE, cat.pk, cat_sub)}
    assert IntegrityFinding.objects.get(kind=Kind.INACTIVE_BILLED).detail.startswith("Per our records")
    (line,) = [r for r in caplog.records if r.getMessage() == "billing_integrity"]
    assert line.stripe_listed is False


def test_staff_see_the_findings_in_the_admin(drift, client, staff):
    run = sweeps.reconcile_subscriptions()
    sign_in_with_second_factor(client, staff)

    listing = client.get("/admin/billing/integrityfinding/")
    only_unowned = client.get("/admin/billing/integrityfinding/", {"kind__exact": Kind.UNOWNED_SUBSCRIPTION})
    run_page = client.get(f"/admin/billing/reconciliationrun/{run.pk}/change/")

    assert listing.status_code == 200
    for label in Kind.labels:
        assert label in listing.text
    assert "sub_unknown_to_stripe" in listing.text
    assert drift["bob"].subscription["id"] in only_unowned.text
    assert "sub_unknown_to_stripe" not in only_unowned.text
    assert "Billed, but the account is deactivated: 1" in run_page.text
    assert f"/admin/billing/integrityfinding/?run__id__exact={run.pk}" in run_page.text
    assert client.get("/admin/billing/integrityfinding/add/").status_code == 403
    runs = client.get("/admin/billing/reconciliationrun/")
    assert '<td class="field-integrity_findings">5</td>' in runs.text


def test_the_findings_are_for_staff_only(alice):
    response = alice.get("/admin/billing/integrityfinding/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
