"""A duplicate subscription's refund: recorded, shown in the customer's history, and left for
staff (not retried for a week) when Stripe refuses it or keeps failing."""

import logging
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEntry
from billing import duplicates, sweeps
from billing.exceptions import BillingUnavailable
from billing.models import DuplicateRefund, Subscription
from billing.tasks import resolve_duplicate_subscription
from tests.billing.fake_billing import paid_twice, sync_invoice
from tests.mfa_helpers import sign_in_with_second_factor

pytestmark = pytest.mark.django_db


@pytest.fixture
def duplicate(alice, fake, endpoint):
    """alice paid for Pro and, in a second tab, for Business: (Stripe's side of the duplicate, our row)."""
    _kept, second = paid_twice(alice, fake, endpoint)
    row = Subscription.objects.get(stripe_subscription_id=second.subscription["id"])
    assert row.duplicate_of is not None
    assert row.duplicate_resolved_at is None
    fake.requests.clear()
    return second, row


def history_row(client, invoice_number: str) -> str:
    html = client.get("/billing/history/").content.decode()
    (row,) = [r for r in re.findall(r"<tr>\s*<td>.*?</tr>", html, flags=re.S) if invoice_number in r]
    return row


def test_the_refund_is_recorded_with_stripes_answer(duplicate, fake):
    second, row = duplicate

    assert duplicates.resolve(row.pk) == "resolved"

    (stripe_refund,) = fake.all("refund")
    refund = DuplicateRefund.objects.get(subscription=row)
    assert refund.state == DuplicateRefund.State.REFUNDED
    assert (refund.stripe_refund_id, refund.amount_cents, refund.currency) == (stripe_refund["id"], 9900, "usd")
    assert refund.stripe_status == stripe_refund["status"] == "succeeded"
    assert refund.stripe_invoice_id == second.invoice["id"]
    assert (refund.failures, refund.last_error) == (0, "")
    assert refund.refunded_at.timestamp() == stripe_refund["created"]


def test_the_customers_history_shows_the_refunded_amount(duplicate, alice, fake, django_assert_num_queries):
    second, row = duplicate
    duplicates.resolve(row.pk)
    for invoice in fake.all("invoice"):
        sync_invoice(invoice["id"])
    today = timezone.now().strftime("%-d %b %Y")

    with django_assert_num_queries(3):  # user, invoices with their refunds, the nav's access check
        refunded = history_row(alice, second.invoice["number"])

    assert f"Refunded $99 on {today}" in refunded
    kept_invoice = next(i for i in fake.all("invoice") if i["id"] != second.invoice["id"])
    assert "Refunded" not in history_row(alice, kept_invoice["number"])


def test_a_refund_stripe_refuses_is_left_for_staff_and_not_retried(duplicate, fake, caplog):
    second, row = duplicate
    fake.call("POST", "/v1/refunds", charge=second.charge["id"])  # refunded by hand in Stripe's dashboard
    caplog.set_level(logging.INFO, logger="gatehouse.billing")

    assert duplicates.resolve(row.pk) == "needs_staff"

    refund = DuplicateRefund.objects.get(subscription=row)
    assert refund.state == DuplicateRefund.State.NEEDS_STAFF
    assert refund.failures == 1
    assert refund.last_error == f"Charge {second.charge['id']} has already been refunded. (charge_already_refunded)"
    assert refund.needs_staff_since is not None
    (line,) = [r for r in caplog.records if r.getMessage() == "duplicate_refund_needs_staff"]
    assert (line.levelname, line.subscription, line.stripe_code, line.refused_by_stripe) == (
        "ERROR",
        row.pk,
        "charge_already_refunded",
        True,
    )
    assert fake.get(second.subscription["id"])["status"] == "canceled"  # the cancel itself went through
    row.refresh_from_db()
    assert (row.status, row.duplicate_resolved_at) == ("canceled", None)
    # Neither the task nor beat's retry sweep asks Stripe again.
    fake.requests.clear()
    assert duplicates.resolve(row.pk) == "needs_staff"
    later = timezone.now() + sweeps.DUPLICATE_RETRY_AFTER + timedelta(minutes=1)
    assert sweeps.retry_unresolved_duplicates(resolve_duplicate=resolve_duplicate_subscription, now=later) == 0
    assert fake.requests == []


def test_a_refund_stripe_keeps_failing_is_left_for_staff_after_the_last_attempt(duplicate, fake):
    _second, row = duplicate
    fake.fail_next(500, path_prefix="/v1/refunds", times=DuplicateRefund.MAX_ATTEMPTS)

    for attempt in range(1, DuplicateRefund.MAX_ATTEMPTS):
        with pytest.raises(BillingUnavailable):  # the task retries these
            duplicates.resolve(row.pk)
        refund = DuplicateRefund.objects.get(subscription=row)
        assert (refund.state, refund.failures) == (DuplicateRefund.State.TRYING, attempt)
    assert duplicates.resolve(row.pk) == "needs_staff"

    refund.refresh_from_db()
    assert (refund.state, refund.failures) == (DuplicateRefund.State.NEEDS_STAFF, DuplicateRefund.MAX_ATTEMPTS)
    assert refund.last_error == "Stripe is having trouble. Please try again in a few minutes."
    assert len(fake.calls("POST", "/v1/refunds")) == DuplicateRefund.MAX_ATTEMPTS


def test_a_refund_that_failed_once_and_then_went_through_is_recorded(duplicate, fake):
    _second, row = duplicate
    fake.fail_next(500, path_prefix="/v1/refunds")
    with pytest.raises(BillingUnavailable):
        duplicates.resolve(row.pk)

    assert duplicates.resolve(row.pk) == "resolved"

    refund = DuplicateRefund.objects.get(subscription=row)
    assert (refund.state, refund.failures, refund.amount_cents) == (DuplicateRefund.State.REFUNDED, 1, 9900)


def test_staff_find_the_refunds_that_need_them_with_the_reason(duplicate, client, staff, fake):
    second, row = duplicate
    fake.call("POST", "/v1/refunds", charge=second.charge["id"])
    duplicates.resolve(row.pk)
    sign_in_with_second_factor(client, staff)

    page = client.get("/admin/billing/duplicaterefund/?state__exact=needs_staff").content.decode()

    assert row.stripe_subscription_id in page
    assert "alice@example.com" in page
    assert "has already been refunded. (charge_already_refunded)" in page
    assert "Needs staff" in page
    assert (
        client.get("/admin/billing/duplicaterefund/?state__exact=refunded")
        .content.decode()
        .count(row.stripe_subscription_id)
        == 0
    )


def test_the_refunds_admin_is_for_staff_only(alice):
    response = alice.get("/admin/billing/duplicaterefund/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_can_try_a_refund_again_once_stripe_answers(duplicate, client, staff, fake, committing):
    second, row = duplicate
    fake.fail_next(500, path_prefix="/v1/refunds", times=DuplicateRefund.MAX_ATTEMPTS)
    for _ in range(DuplicateRefund.MAX_ATTEMPTS - 1):
        with pytest.raises(BillingUnavailable):
            duplicates.resolve(row.pk)
    assert duplicates.resolve(row.pk) == "needs_staff"
    refund = DuplicateRefund.objects.get(subscription=row)
    sign_in_with_second_factor(client, staff)

    with committing():
        response = client.post(
            "/admin/billing/duplicaterefund/", {"action": "retry", "_selected_action": [refund.pk]}, follow=True
        )

    assert "Trying 1 refund(s) again; 0 did not need staff." in response.text
    refund.refresh_from_db()
    assert (refund.state, refund.staff_retries, refund.amount_cents) == (DuplicateRefund.State.REFUNDED, 1, 9900)
    row.refresh_from_db()
    assert row.duplicate_resolved_at is not None
    last = fake.calls("POST", "/v1/refunds")[-1]
    assert last.headers["Idempotency-Key"] == f"duplicate:{second.subscription['id']}:refund:staff-retry-1"
    assert len(fake.all("refund")) == 1
    # The audit log says who asked for it, and what it changed.
    (entry,) = AuditEntry.objects.all()
    assert (entry.actor_id, entry.action, entry.source) == (staff.pk, "retry_refund", "admin")
    assert (entry.object_type, entry.object_id) == ("billing.duplicaterefund", str(refund.pk))
    assert entry.changes == {"state": ["needs_staff", "trying"]}


def test_a_refund_staff_retry_that_stripe_refuses_again_goes_back_to_staff(duplicate, client, staff, fake):
    second, row = duplicate
    fake.call("POST", "/v1/refunds", charge=second.charge["id"])
    duplicates.resolve(row.pk)
    refund = DuplicateRefund.objects.get(subscription=row)

    assert duplicates.retry_refund(refund) is True
    assert duplicates.retry_refund(refund) is False  # a second click reopens nothing
    assert duplicates.resolve(row.pk) == "needs_staff"

    refund.refresh_from_db()
    assert (refund.state, refund.failures, refund.staff_retries) == (DuplicateRefund.State.NEEDS_STAFF, 1, 1)
    keys = [call.headers["Idempotency-Key"] for call in fake.calls("POST", "/v1/refunds")]
    stripe_id = second.subscription["id"]
    assert keys == [f"duplicate:{stripe_id}:refund", f"duplicate:{stripe_id}:refund:staff-retry-1"]
