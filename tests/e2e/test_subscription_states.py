"""The subscription page in a real browser, at desktop and phone sizes, through the states a subscriber
goes through: back from Checkout while Stripe is down and before its webhook, active, a form's URL typed in, a failed
renewal with the invoice to pay, ended. Stripe is the loopback fake; its events reach the live server
signed, over HTTP, as in test_billing_flow.py."""

import re

import pytest

from tests.billing.fake_billing import make_webhook_endpoint
from tests.e2e.test_billing_flow import post_signed, pro_on_sale  # noqa: F401 - pro_on_sale is a fixture
from tests.e2e.test_csp import sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_FOLDER = "subscription-states"
DAY = 24 * 3600
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture
def both_sizes(page, screenshot):
    """Screenshot the page as it is at desktop size, then at phone size (and back)."""

    def take(name: str) -> None:
        screenshot(f"{name}-desktop")
        page.set_viewport_size(PHONE)
        screenshot(f"{name}-phone")
        page.set_viewport_size(DESKTOP)

    return take


def card(page) -> str:
    return page.locator("main").inner_text()


def test_a_subscribers_page_says_one_true_state_at_each_step(
    page,
    live_server,
    both_sizes,
    fake_stripe_settings,
    pro_on_sale,  # noqa: F811
):
    fake = fake_stripe_settings
    endpoint = make_webhook_endpoint(fake)
    UserFactory(username="frida", email="frida@example.com")
    page.goto("/accounts/login/")
    sign_in(page, "frida")
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))

    def stub_checkout(route):
        [session] = fake.all("checkout.session")
        success = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        route.fulfill(status=200, content_type="text/html", body=f'<a href="{success}">Pay 19.00 USD</a>')

    page.route("https://checkout.stripe.com/**", stub_checkout)
    page.goto("/billing/pricing/")
    page.get_by_role("button", name="Subscribe to Pro").click()
    page.wait_for_url(re.compile(r"https://checkout\.stripe\.com/.*"))
    [session] = fake.all("checkout.session")
    done = fake.complete_checkout(session["id"], email="frida@example.com")

    # Back from Checkout while Stripe cannot be asked: we could not check, not "paid".
    fake.down()
    page.get_by_role("link", name="Pay 19.00 USD").click()
    page.wait_for_url(re.compile(r".*/billing/subscription/$"))
    text = card(page)
    assert "We could not check your payment with Stripe just now." in text
    assert "Payment received" not in text
    both_sizes("not-checked-yet")

    # Checked again once Stripe answers, still before its webhook: one state, payment received.
    fake.up()
    page.get_by_role("link", name="Check again").click()
    page.wait_for_url(re.compile(r".*/billing/subscription/$"))
    text = card(page)
    assert "Payment received" in text
    assert "free plan" not in text
    assert text.count("Stripe confirms") == 1
    both_sizes("payment-received")

    # Stripe's confirmation arrives: the plan is active.
    assert set(post_signed(live_server, endpoint, done.events)) == {200}
    page.reload()
    text = card(page)
    assert "Renews on" in text
    assert "Payment received" not in text
    both_sizes("active")

    # The cancel form's URL typed in: the page with its button, and a message, not a broken page.
    page.goto("/billing/subscription/cancel/")
    page.wait_for_url(re.compile(r".*/billing/subscription/$"))
    assert "Use the button on this page to cancel your subscription at the end of the period." in card(page)
    both_sizes("cancel-url-typed-in")

    # The renewal fails: the page links to the invoice to pay.
    fake.advance_time(31 * DAY)
    failure = fake.fail_payment(done.subscription["id"])
    assert set(post_signed(live_server, endpoint, failure.events)) == {200}
    page.goto("/billing/subscription/")
    pay = page.get_by_role("link", name="Pay this invoice ($19)")
    assert pay.get_attribute("href") == failure.invoice["hosted_invoice_url"]
    assert "Your last payment failed." in card(page)
    # Paying comes first: no plan change offered on top of the unpaid invoice (issue 15).
    assert page.get_by_role("button", name="Update payment method").is_visible()
    assert page.get_by_role("button", name="Payment method and invoices").count() == 0
    assert page.get_by_role("heading", name="Change plan").count() == 0
    assert "Once it is paid, you can change plan." in card(page)
    both_sizes("past-due")

    # Stripe gives up and ends it: the page shows when it ended and the way back.
    ended = fake.end(done.subscription["id"])
    assert set(post_signed(live_server, endpoint, ended.events)) == {200}
    page.reload()
    text = card(page)
    assert "Ended on" in text
    assert "Access ends" not in text
    assert "you are on the free plan" in text
    both_sizes("ended")
