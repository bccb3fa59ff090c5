"""A person picks a plan on the pricing page and is sent to Stripe Checkout (the loopback fake's session).

Stripe's hosted checkout page is not on this machine: the browser's request for it is answered
by a stub page, after asserting it is exactly the URL the fake Stripe issued.
"""

import re
from importlib import import_module

import pytest
from django.apps import apps

from billing import services
from billing.models import Plan
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_FOLDER = "billing"


@pytest.fixture
def pro_on_sale(fake_stripe_settings, settings):
    # Transactional tests flush the tables, the migrations' demo plans included: seed them again.
    import_module("billing.migrations.0002_demo_plans").seed_demo_plans(apps, None)
    settings.BILLING_CONFIGURED = True
    plan = Plan.objects.get(code="pro-monthly")
    services.save_plan(plan=plan, previous=Plan.objects.get(pk=plan.pk))
    return plan


def test_pricing_to_stripe_checkout(page, live_server, screenshot, fake_stripe_settings, pro_on_sale):
    user = UserFactory(username="carol", email="carol@example.com")
    page.goto("/accounts/login/")
    page.locator('input[name="login"]').fill("carol")
    page.locator('input[name="password"]').fill(DEFAULT_PASSWORD)
    page.locator('main form[method="post"] button[type="submit"]').first.click()
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))

    page.goto("/billing/pricing/")
    assert page.locator("h1").inner_text() == "Pricing"
    assert page.get_by_text("19.00 USD").count() == 1
    screenshot("pricing")

    visited = []

    def stub_checkout(route):
        visited.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Stripe Checkout (stub)</h1>")

    page.route("https://checkout.stripe.com/**", stub_checkout)
    page.get_by_role("button", name="Subscribe to Pro").click()
    page.wait_for_url(re.compile(r"https://checkout\.stripe\.com/c/pay/cs_.*"))
    screenshot("checkout")

    [session] = fake_stripe_settings.all("checkout.session")
    assert visited == [session["url"]]
    assert session["client_reference_id"] == str(user.pk)
    assert session["metadata"] == {"user_id": str(user.pk), "plan_code": "pro-monthly"}
    assert session["mode"] == "subscription"
