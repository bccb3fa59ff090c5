"""Issue 15, the portal shell in Chromium at 1280x900 and 390x844: what a paying customer (and the
operator) sees around every page. Each test names the item it covers."""

import pytest

from tests.e2e.shell import PHONE, free_user, sign_in, staff_user, top_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_FOLDER = "shell"
OPERATOR_NOTICE = "billing is not configured"
CUSTOMER_NOTICE = "Paid plans are not available yet"


@pytest.fixture
def unconfigured(settings):
    settings.STRIPE_SECRET_KEY = ""


@pytest.fixture
def phone(page):
    page.set_viewport_size(PHONE)
    return page


# --- item 1: the operator's banner is for staff; customers hear about it where it matters -----------


def test_it_shows_customers_no_operator_banner_and_says_paid_plans_are_not_available_on_pricing(
    phone, browser_context, live_server, unconfigured, screenshot
):
    sign_in(browser_context, live_server, free_user())
    for path in ("/", "/accounts/profile/", "/billing/history/"):
        phone.goto(path)
        assert OPERATOR_NOTICE not in phone.locator("body").inner_text().lower()
        assert CUSTOMER_NOTICE not in phone.locator("body").inner_text()
    for path in ("/billing/pricing/", "/billing/subscription/"):
        phone.goto(path)
        assert phone.locator(".operator-bar").count() == 0
        assert phone.get_by_text(CUSTOMER_NOTICE).is_visible()
    screenshot("phone-subscription-unconfigured")


def test_it_shows_staff_the_operator_banner_on_one_short_line_above_the_header(
    phone, browser_context, live_server, unconfigured, screenshot
):
    sign_in(browser_context, live_server, staff_user())
    phone.goto("/accounts/profile/")
    bar = phone.locator(".operator-bar")
    assert OPERATOR_NOTICE in bar.inner_text().lower()
    assert bar.bounding_box()["height"] <= 60  # two short lines at most on a phone, not four
    assert top_of(phone, ".operator-bar") < top_of(phone, ".site-header")
    screenshot("phone-staff-operator-bar")


def test_it_shows_nobody_a_billing_notice_once_stripe_is_configured(page, browser_context, live_server, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_configured"
    sign_in(browser_context, live_server, staff_user())
    page.goto("/billing/pricing/")
    assert page.locator(".operator-bar").count() == 0
    assert page.get_by_text(CUSTOMER_NOTICE).count() == 0
