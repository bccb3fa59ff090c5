"""A person picks a plan on the pricing page, pays on Stripe Checkout, and sees the plan once Stripe's
signed webhooks have reached the server; then deactivates the account, which cancels the plan in
Stripe first (the page says so before they confirm).

Stripe's hosted checkout page is not on this machine: the browser's request for it is answered
by a stub page (after asserting it is exactly the URL the fake Stripe issued) whose "Pay" link is
the session's success URL. Paying happens in the loopback fake Stripe, which then "delivers" its
events: signed like Stripe signs them and POSTed over HTTP to the live server's webhook endpoint.
"""

import re
from importlib import import_module

import pytest
import requests
from django.apps import apps

from accounts.models import User
from billing import services
from billing.models import Plan, Subscription
from tests.billing.fake_billing import make_webhook_endpoint, webhook_url
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.fake_stripe import event_payload, sign_payload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_FOLDER = "billing"


@pytest.fixture
def pro_on_sale(fake_stripe_settings, settings, live_server):
    settings.SITE_URL = live_server.url  # Checkout's success URL is built from SITE_URL
    # Transactional tests flush the tables, the migrations' demo plans included: seed them again.
    import_module("billing.migrations.0002_demo_plans").seed_demo_plans(apps, None)
    plan = Plan.objects.get(code="pro-monthly")
    services.save_plan(plan=plan, previous=Plan.objects.get(pk=plan.pk))
    return plan


def post_signed(live_server, endpoint, events) -> list[int]:
    with requests.Session() as http:
        http.trust_env = False  # loopback only, never through a proxy from the environment
        statuses = []
        for event in events:
            body = event_payload(event)
            headers = {"Content-Type": "application/json", "Stripe-Signature": sign_payload(body, endpoint.secret)}
            statuses.append(http.post(live_server.url + webhook_url(endpoint), data=body, headers=headers).status_code)
        return statuses


def test_pricing_to_checkout_to_the_new_plan(page, live_server, screenshot, fake_stripe_settings, pro_on_sale):
    fake = fake_stripe_settings
    endpoint = make_webhook_endpoint(fake)
    user = UserFactory(username="carol", email="carol@example.com")
    page.goto("/accounts/login/")
    page.locator('input[name="login"]').fill("carol")
    page.locator('input[name="password"]').fill(DEFAULT_PASSWORD)
    page.locator('main form[method="post"] button[type="submit"]').first.click()
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))

    page.goto("/billing/pricing/")
    assert page.locator("h1").inner_text() == "Pricing"
    assert page.locator(".price", has_text="$19 / month").count() == 1
    screenshot("pricing")

    visited = []

    def stub_checkout(route):
        visited.append(route.request.url)
        [session] = fake.all("checkout.session")
        success = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        body = f'<h1>Stripe Checkout (stub)</h1><a href="{success}">Pay 19.00 USD</a>'
        route.fulfill(status=200, content_type="text/html", body=body)

    page.route("https://checkout.stripe.com/**", stub_checkout)
    page.get_by_role("button", name="Subscribe to Pro").click()
    page.wait_for_url(re.compile(r"https://checkout\.stripe\.com/c/pay/cs_.*"))
    screenshot("checkout")

    [session] = fake_stripe_settings.all("checkout.session")
    assert visited == [session["url"]]
    assert session["client_reference_id"] == str(user.pk)
    assert session["metadata"] == {"user_id": str(user.pk), "plan_code": "pro-monthly"}
    assert session["mode"] == "subscription"

    # The customer pays; Stripe sends its events to our endpoint, signed.
    done = fake.complete_checkout(session["id"], email=user.email)
    assert post_signed(live_server, endpoint, done.events) == [200] * len(done.events)

    page.get_by_role("link", name="Pay 19.00 USD").click()  # Checkout's success URL -> the subscription page
    page.wait_for_url(re.compile(r".*/billing/subscription/$"))
    assert "Thank you! Your Pro plan is active." in page.locator("main").inner_text()
    card = page.locator(".card")
    assert card.locator("h2").inner_text() == "Pro"
    assert card.locator(".badge").inner_text() == "Active"
    assert "Renews on" in card.inner_text()
    screenshot("subscription")

    # Deactivating the account: the page says what happens to the plan, and Stripe stops charging.
    page.goto("/accounts/deactivate/")
    page.wait_for_url(re.compile(r".*/accounts/reauthenticate/.*"))
    page.locator('input[name="password"]').fill(DEFAULT_PASSWORD)
    page.locator('main form[method="post"] button[type="submit"]').first.click()
    page.wait_for_url(re.compile(r".*/accounts/deactivate/$"))
    notes = page.locator(".deactivation-notes").inner_text()
    assert "Your Pro plan is canceled at once: you will not be charged again" in notes
    screenshot("deactivate")
    assert fake.all("subscription")[0]["status"] == "active", "showing the page cancels nothing"
    mark = len(fake.events)
    page.get_by_label("I understand that I will be signed out everywhere and can no longer sign in.").check()
    page.get_by_role("button", name="Deactivate my account").click()
    page.wait_for_url(re.compile(r".*/$"))
    assert "Your account has been deactivated and every session signed out." in page.locator("main").inner_text()
    screenshot("deactivated")

    [subscription] = fake.all("subscription")
    assert subscription["status"] == "canceled"
    [cancel] = fake.calls("DELETE", f"/v1/subscriptions/{subscription['id']}")
    assert cancel.headers["Idempotency-Key"] == f"deactivate:{subscription['id']}:cancel"
    assert User.objects.get(pk=user.pk).is_active is False
    assert Subscription.objects.get(stripe_subscription_id=subscription["id"]).status == "canceled"
    # Stripe's own news of the cancel arrives afterwards and is taken in stride.
    assert post_signed(live_server, endpoint, fake.events[mark:]) == [200] * len(fake.events[mark:])
