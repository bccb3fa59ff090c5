"""Changing plan in place: a proration preview first, then Subscription.modify on confirmation.

The user subscribed through our Checkout in the fake Stripe; our access record is what the webhook
would have written. The access record itself moves when Stripe's webhook confirms the change.
"""

import pytest
import stripe

from billing.models import Plan
from tests.billing.fake_billing import messages_of, row
from tests.fake_stripe import FAKE_API_KEY

pytestmark = pytest.mark.django_db

CHANGE_URL = "/billing/subscription/change/"


def stripe_price_of(fake, subscription_id) -> str:
    return fake.get(subscription_id)["items"]["data"][0]["price"]["id"]


def test_the_preview_shows_what_stripe_will_charge_and_asks_to_confirm(alice, fake, subscribed):
    remote, record = subscribed
    before = row(record)
    business = Plan.objects.get(code="business-monthly")

    response = alice.get(CHANGE_URL, {"plan": "business-monthly"})

    assert response.status_code == 200
    preview = response.context["preview"]
    # What we show is what Stripe computes for the same change at the same proration date.
    item_id = remote["items"]["data"][0]["id"]
    expected = stripe.Invoice.create_preview(
        api_key=FAKE_API_KEY,
        customer=remote["customer"],
        subscription=remote["id"],
        subscription_details={
            "items": [{"id": item_id, "price": business.stripe_price_id}],
            "proration_date": preview["proration_date"],
            "proration_behavior": "always_invoice",
        },
    )
    assert preview["amount_due_cents"] == expected["amount_due"] == 8000  # 99.00 for the month, less 19.00 unused
    assert preview["currency"] == "usd"
    assert [line["amount_cents"] for line in preview["lines"]] == [-1900, 9900]
    html = response.content.decode()
    assert "Switch to Business" in html
    assert "<strong>$80</strong>" in html
    assert "-$19" in html
    assert "$99 each month" in html
    assert "Unused time on 1 × Pro" in html
    assert '<input type="hidden" name="plan" value="business-monthly">' in html
    assert f'<input type="hidden" name="proration_date" value="{preview["proration_date"]}">' in html
    assert "Confirm the change" in html

    (retrieve,) = fake.calls("GET", f"/v1/subscriptions/{remote['id']}")
    preview_call = fake.calls("POST", "/v1/invoices/create_preview")[0]
    assert preview_call.params == {
        "customer": remote["customer"],
        "subscription": remote["id"],
        "subscription_details": {
            "items": [{"id": item_id, "price": business.stripe_price_id}],
            "proration_date": preview["proration_date"],
            "proration_behavior": "always_invoice",
        },
    }
    # A preview changes nothing, in Stripe or here.
    assert stripe_price_of(fake, remote["id"]) == Plan.objects.get(code="pro-monthly").stripe_price_id
    assert fake.calls("POST", f"/v1/subscriptions/{remote['id']}") == []
    assert row(record) == before


def test_confirming_changes_the_stripe_subscription_in_place_with_proration(alice, fake, subscribed):
    remote, record = subscribed
    before = row(record)
    business = Plan.objects.get(code="business-monthly")
    proration_date = alice.get(CHANGE_URL, {"plan": "business-monthly"}).context["preview"]["proration_date"]
    fake.requests.clear()

    response = alice.post(CHANGE_URL, {"plan": "business-monthly", "proration_date": proration_date}, follow=True)

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    assert messages_of(response) == ["Your plan has been changed. A confirmation is on its way by email."]
    (modify,) = fake.calls("POST", f"/v1/subscriptions/{remote['id']}")
    item_id = remote["items"]["data"][0]["id"]
    assert modify.params == {
        "items": [{"id": item_id, "price": business.stripe_price_id}],
        "proration_behavior": "always_invoice",
        "proration_date": proration_date,
        "payment_behavior": "pending_if_incomplete",
        "expand": ["latest_invoice"],
    }
    assert modify.headers["Idempotency-Key"] == f"change:{remote['id']}:business-monthly:{proration_date}"

    after = fake.get(remote["id"])
    assert after["items"]["data"][0]["id"] == item_id  # the same subscription and item: changed in place
    assert after["items"]["data"][0]["price"]["id"] == business.stripe_price_id
    assert (after["status"], after["pending_update"]) == ("active", None)
    assert len(fake.all("subscription")) == 1
    upgrade = fake.get(
        after["latest_invoice"] if isinstance(after["latest_invoice"], str) else after["latest_invoice"]["id"]
    )
    assert (upgrade["billing_reason"], upgrade["status"], upgrade["amount_due"]) == (
        "subscription_update",
        "paid",
        8000,
    )
    # Stripe's answer is recorded at once (the webhook that follows finds nothing new).
    record.refresh_from_db()
    assert (record.plan.code, record.status) == ("business-monthly", "active")
    assert before["stripe_updated_at"] is None
    assert record.stripe_updated_at is not None


def test_confirming_twice_changes_the_plan_once(alice, fake, subscribed):
    remote, _record = subscribed
    proration_date = alice.get(CHANGE_URL, {"plan": "business-monthly"}).context["preview"]["proration_date"]
    form = {"plan": "business-monthly", "proration_date": proration_date}

    alice.post(CHANGE_URL, form)
    second = alice.post(CHANGE_URL, form, follow=True)

    updates = [i for i in fake.all("invoice") if i["billing_reason"] == "subscription_update"]
    assert len(updates) == 1
    assert len(fake.calls("POST", f"/v1/subscriptions/{remote['id']}")) == 1
    assert "You are already on this plan." in messages_of(second)


def test_confirming_without_a_proration_date_prorates_from_now(alice, fake, subscribed):
    remote, _record = subscribed

    alice.post(CHANGE_URL, {"plan": "business-monthly"})

    (modify,) = fake.calls("POST", f"/v1/subscriptions/{remote['id']}")
    assert abs(modify.params["proration_date"] - fake.now()) <= 5
    assert stripe_price_of(fake, remote["id"]) == Plan.objects.get(code="business-monthly").stripe_price_id


@pytest.mark.parametrize("method", ["get", "post"])
def test_switching_to_the_current_plan_is_refused(alice, fake, subscribed, method):
    response = getattr(alice, method)(CHANGE_URL, {"plan": "pro-monthly"}, follow=True)

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    assert messages_of(response) == ["You are already on this plan."]
    assert fake.requests == []


@pytest.mark.parametrize("code", ["free", "no-such-plan"])
def test_switching_to_a_plan_not_on_sale_is_refused(alice, fake, subscribed, code):
    response = alice.get(CHANGE_URL, {"plan": code}, follow=True)

    assert messages_of(response) == ["No such plan is on sale."]
    assert fake.requests == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_without_a_subscription_there_is_nothing_to_change(alice, fake, method):
    fake.requests.clear()

    response = getattr(alice, method)(CHANGE_URL, {"plan": "business-monthly"}, follow=True)

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    assert messages_of(response) == ["No active subscription found for this user."]
    assert fake.requests == []


def test_a_declined_card_is_a_message_and_nothing_changes(alice, fake, subscribed):
    remote, record = subscribed
    before = row(record)
    pro_price = stripe_price_of(fake, remote["id"])
    fake.fail_next(402, method="POST", path_prefix="/v1/subscriptions/")

    response = alice.post(CHANGE_URL, {"plan": "business-monthly"}, follow=True)

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    (message,) = messages_of(response)
    assert "declined" in message
    assert row(record) == before
    assert stripe_price_of(fake, remote["id"]) == pro_price
    assert [i["billing_reason"] for i in fake.all("invoice")] == ["subscription_create"]


@pytest.mark.parametrize(
    ("method", "failing"),
    [
        ("get", {"path_prefix": "/v1/invoices/create_preview"}),
        ("get", {"method": "GET", "path_prefix": "/v1/subscriptions/"}),
        ("post", {"method": "POST", "path_prefix": "/v1/subscriptions/"}),
    ],
)
def test_stripe_trouble_is_a_message_and_nothing_changes(alice, fake, subscribed, method, failing):
    remote, record = subscribed
    before = row(record)
    pro_price = stripe_price_of(fake, remote["id"])
    fake.fail_next(500, **failing)

    response = getattr(alice, method)(CHANGE_URL, {"plan": "business-monthly"}, follow=True)

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    assert messages_of(response) == ["Stripe is having trouble. Please try again in a few minutes."]
    assert row(record) == before
    assert stripe_price_of(fake, remote["id"]) == pro_price


def test_a_declined_proration_payment_tells_the_user_to_pay(alice, fake, subscribed):
    remote, _record = subscribed
    fake.decline_next_payment()

    response = alice.post(CHANGE_URL, {"plan": "business-monthly"})

    after = fake.get(remote["id"])
    assert after["pending_update"] is not None  # Stripe holds the change until the open invoice is paid
    invoice = fake.get(after["latest_invoice"])
    assert invoice["status"] == "open"
    assert "Your plan has been changed. A confirmation is on its way by email." not in messages_of(response)
    assert response["Location"] == invoice["hosted_invoice_url"] or any(
        "payment" in message.lower() for message in messages_of(response)
    )
