"""The subscription page says the one state that is true, for states reached the way they are in
production: Checkout on the loopback fake Stripe, its signed webhooks posted to the real endpoint."""

import time
from types import SimpleNamespace

import pytest
from django.test import Client

from billing.models import PAY_BEFORE_CHANGING_PLAN, Subscription
from tests.billing.fake_billing import messages_of, start_checkout
from tests.billing.test_webhooks_lifecycle import DAY, Story, long_date
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def story(alice, fake, endpoint, committing):
    return Story(alice, fake, endpoint, committing)


def card_text(client) -> str:
    response = client.get("/billing/subscription/")
    assert response.status_code == 200
    return response.content.decode().split("<h1>", 1)[1]


# --- money ----------------------------------------------------------------------------------------------


def test_a_subscriber_reads_prices_as_on_the_pricing_page_not_currency_codes(story):
    story.checkout()

    html = card_text(story.client)

    assert "<dt>Price</dt><dd>$19 / month</dd>" in html
    assert '?plan=business-monthly">Business</a> · $99 / month</li>' in html
    assert "USD" not in html


# --- after the end ---------------------------------------------------------------------------------------


def test_after_a_subscription_ends_early_the_page_shows_the_ended_date_not_a_future_one(story, fake):
    done = story.checkout()
    period_end = done.subscription["items"]["data"][0]["current_period_end"]
    fake.advance_time(3 * DAY)
    ended = fake.end(story.subscription_id, reason="cancellation_requested")  # e.g. canceled in Stripe's dashboard
    story.deliver(ended.events)

    html = card_text(story.client)

    assert f"Ended on</dt><dd>{long_date(ended.subscription['ended_at'])}</dd>" in html
    assert long_date(period_end) not in html  # the period's end, still in the future, is not when access ends
    assert "Access ends" not in html
    assert "Renews on" not in html
    assert "you are on the free plan" in html
    assert 'href="/billing/pricing/">See the plans</a> to subscribe again' in html
    assert "Cancel at period end" not in html
    assert "Payment method and invoices" not in html


def test_a_cancellation_that_took_effect_shows_when_it_ended(story, fake):
    story.checkout()
    story.portal("/billing/subscription/cancel/", {})
    assert "Access ends" in card_text(story.client)  # scheduled: access until the period's end
    fake.advance_time(31 * DAY)
    ended = fake.end(story.subscription_id)
    story.deliver(ended.events)

    html = card_text(story.client)

    assert f"Ended on</dt><dd>{long_date(ended.subscription['ended_at'])}</dd>" in html
    assert "Access ends" not in html


# --- back from Checkout before Stripe's webhook ------------------------------------------------------------


def test_back_from_checkout_before_the_webhook_the_page_says_one_thing_payment_received(
    story, fake, django_assert_num_queries
):
    done = fake.complete_checkout(start_checkout(story.client))
    story.client.get(done.redirect_url)

    # user, the record with access (none), the newest record (none), the active plans; the pending
    # checkout is in the session: no query of its own
    with django_assert_num_queries(4):
        html = card_text(story.client)

    assert "Payment received" in html
    assert "Your Pro plan starts as soon as Stripe confirms your payment" in html
    assert "free plan" not in html
    assert html.count("Stripe confirms") == 1  # one message, not a flash above a card

    story.subscription_id = done.subscription["id"]
    story.deliver(done.events)  # Stripe's confirmation arrives

    html = card_text(story.client)
    assert "<h2>Pro</h2>" in html
    assert "Renews on" in html
    assert "Payment received" not in html
    assert "free plan" not in html


def test_a_returning_subscriber_sees_the_new_payment_not_the_old_ended_subscription(story, fake):
    story.checkout()
    story.deliver(fake.end(story.subscription_id).events)
    fake.advance_time(60)
    done = fake.complete_checkout(start_checkout(story.client, "business-monthly"))
    story.client.get(done.redirect_url)

    html = card_text(story.client)

    assert "<h2>Business</h2>" in html
    assert "Payment received" in html
    assert "Ended on" not in html


def test_when_stripe_could_not_be_asked_the_page_offers_to_check_again(story, fake):
    done = fake.complete_checkout(start_checkout(story.client))
    fake.down()
    story.client.get(done.redirect_url)

    html = card_text(story.client)

    assert "We could not check your payment with Stripe just now." in html
    assert "Payment received" not in html
    assert "free plan" not in html
    check_again = f'href="/billing/checkout/success/?session_id={done.session["id"]}">Check again</a>'
    assert check_again in html

    fake.up()
    story.subscription_id = done.subscription["id"]
    story.deliver(done.events)
    response = story.client.get(f"/billing/checkout/success/?session_id={done.session['id']}", follow=True)

    assert messages_of(response) == ["Thank you! Your Pro plan is active."]
    assert "Check again" not in response.content.decode()


def test_a_pending_checkout_is_forgotten_after_a_day(story, fake, monkeypatch):
    done = fake.complete_checkout(start_checkout(story.client))
    story.client.get(done.redirect_url)
    later = time.time() + 25 * 3600
    monkeypatch.setattr("billing.views.time", SimpleNamespace(time=lambda: later))

    html = card_text(story.client)

    assert "You are on the free plan." in html
    assert "Payment received" not in html


# --- behind on payment -------------------------------------------------------------------------------------


def test_a_past_due_subscriber_gets_a_link_to_pay_the_failed_invoice(story, fake, django_assert_num_queries):
    story.checkout()
    fake.advance_time(31 * DAY)
    failure = fake.fail_payment(story.subscription_id)
    story.deliver(failure.events)

    # user, the record with access (+ plan; page and nav), the active plans, the open invoice
    with django_assert_num_queries(4):
        html = card_text(story.client)

    invoice = failure.invoice
    assert f'<a class="button" href="{invoice["hosted_invoice_url"]}">Pay this invoice ($19)</a>' in html
    assert f"Stripe tries again on {long_date(invoice['next_payment_attempt'])}." in html
    assert "Renews on" not in html  # it renews only once that invoice is paid
    assert "Period ends" in html
    # Paying comes first: the invoice, or a new card in Stripe's portal; no plan change on top of the debt.
    assert "Update payment method</button>" in html
    assert "Payment method and invoices" not in html
    assert "Once it is paid, you can change plan." in html
    assert "<h2>Change plan</h2>" not in html
    assert html.index("Pay this invoice") < html.index("Update payment method") < html.index("Cancel at period end")

    story.deliver(fake.pay_invoice(invoice["id"]).events)  # paid on the hosted page

    html = card_text(story.client)
    assert "Pay this invoice" not in html
    assert "Your last payment failed" not in html
    assert "Update payment method" not in html
    assert "Payment method and invoices" in html
    assert "<h2>Change plan</h2>" in html


def test_a_past_due_subscriber_is_asked_to_pay_before_changing_plan_everywhere(story, fake):
    story.checkout()
    fake.advance_time(31 * DAY)
    story.deliver(fake.fail_payment(story.subscription_id).events)
    asked_stripe = len(fake.calls())

    # A change-plan link kept from before (or typed): no preview from Stripe, the reason instead.
    response = story.client.get("/billing/subscription/change/?plan=business-monthly", follow=True)
    assert response.redirect_chain == [("/billing/subscription/", 302)]
    assert messages_of(response) == [PAY_BEFORE_CHANGING_PLAN]
    response = story.client.post("/billing/subscription/change/", {"plan": "business-monthly"}, follow=True)
    assert messages_of(response) == [PAY_BEFORE_CHANGING_PLAN]
    assert len(fake.calls()) == asked_stripe
    assert story.record.plan.code == "pro-monthly"

    # The pricing page's Business card: its one button disabled, with the same reason.
    html = story.client.get("/billing/pricing/").content.decode()
    business = html.split('id="plan-business-monthly"', 1)[1].split("</article>", 1)[0]
    assert "/billing/subscription/change/" not in business
    assert 'disabled aria-describedby="plan-business-monthly-reason">Switch to Business</button>' in business
    assert PAY_BEFORE_CHANGING_PLAN in business


def test_an_unpaid_first_payment_links_to_its_invoice_and_says_the_plan_has_not_started(story, fake):
    done = fake.complete_checkout(start_checkout(story.client), paid=False)
    story.subscription_id = done.subscription["id"]
    story.deliver(done.events)
    assert story.record.status == "incomplete"

    html = card_text(story.client)

    assert "The first payment has not gone through, so this plan has not started." in html
    assert f'href="{done.invoice["hosted_invoice_url"]}">Pay this invoice ($19)</a>' in html
    assert "Renews on" not in html
    assert "Access ends" not in html


def test_only_the_subscribers_own_open_invoice_is_linked(story, fake):
    story.checkout()
    fake.advance_time(31 * DAY)
    failure = fake.fail_payment(story.subscription_id)
    story.deliver(failure.events)
    bobs_browser = Client()
    bobs_browser.force_login(UserFactory(username="bob", email="bob@example.com"))

    html = card_text(bobs_browser)

    assert failure.invoice["hosted_invoice_url"] not in html
    assert "You are on the free plan." in html


def test_a_paid_checkout_whose_record_still_says_incomplete_shows_payment_received(story, fake):
    # Stripe said "paid" on the return; our record was written from an earlier read (incomplete).
    done = fake.complete_checkout(start_checkout(story.client))
    story.subscription_id = done.subscription["id"]
    story.deliver(done.events)
    Subscription.objects.filter(stripe_subscription_id=done.subscription["id"]).update(status="incomplete")
    story.client.get(done.redirect_url)

    html = card_text(story.client)

    assert "Payment received" in html
    assert "has not gone through" not in html
