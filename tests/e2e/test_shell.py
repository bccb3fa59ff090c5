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
        assert phone.locator(".notice", has_text=CUSTOMER_NOTICE).is_visible()
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


# --- item 11: no 404 for the icon, a status page in words, guessed addresses, a 500 to quote --------


def test_it_loads_every_page_without_a_failed_request_and_with_an_icon(page, browser_context, live_server):
    failed = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    sign_in(browser_context, live_server, free_user())
    for path in ("/", "/billing/pricing/", "/billing/subscription/", "/accounts/profile/"):
        page.goto(path)
        page.wait_for_load_state("load")
    icon = page.request.get(live_server.url + "/favicon.ico")
    assert icon.status == 200
    assert icon.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert failed == []


def test_the_footer_status_link_opens_a_page_in_words(page, live_server, screenshot):
    page.goto("/")
    page.locator("footer").get_by_role("link", name="Service status").click()
    page.wait_for_url(live_server.url + "/status/")
    assert page.locator("h1").inner_text() == "Service status"
    assert page.get_by_text("Everything is working.").is_visible()
    screenshot("status")


@pytest.mark.parametrize("path", ["/billing/", "/pricing/"])
def test_guessed_billing_addresses_land_on_pricing(page, live_server, path):
    page.goto(path)
    assert page.url == live_server.url + "/billing/pricing/"
    assert page.locator("h1").inner_text() == "Pricing"


def test_the_500_page_shows_a_reference_to_quote(page, live_server, settings, screenshot):
    settings.ROOT_URLCONF = "tests.urls"
    response = page.goto("/test/explode")
    assert response.status == 500
    reference = page.locator("code.request-id").inner_text()
    assert reference == response.headers["x-request-id"]
    assert page.get_by_text("quote this reference").is_visible()
    screenshot("500")


# --- item 8: messages are a list inside a status region; focus goes to the first invalid field ------


def test_a_flash_message_is_a_list_item_of_a_plain_list_inside_a_status_region(page, browser_context, live_server):
    sign_in(browser_context, live_server, free_user())
    page.goto("/billing/reports/")
    item = page.get_by_text("This page is part of the Pro plan and above.")
    assert item.evaluate("(li) => [li.tagName, li.parentElement.tagName, li.parentElement.getAttribute('role')]") == [
        "LI",
        "UL",
        None,
    ]
    assert item.evaluate("(li) => li.closest('[role=status]').className") == "messages"


def test_after_a_failed_sign_up_the_focus_is_on_the_first_invalid_field(page, live_server, screenshot):
    free_user("taken")
    page.goto("/accounts/signup/")
    page.locator('input[name="email"]').fill("someone.new@example.com")
    page.locator('input[name="username"]').fill("taken")
    page.locator('input[name="password1"]').fill("Corr3ct-Horse-Battery")
    page.locator('input[name="password2"]').fill("Corr3ct-Horse-Battery")
    page.locator('main form button[type="submit"]').first.click()
    page.wait_for_selector('[aria-invalid="true"]')
    assert page.evaluate("() => document.activeElement.name") == "username"
    screenshot("signup-invalid-focus")


def test_after_a_failed_sign_in_the_focus_is_on_the_error_summary(page, live_server):
    free_user("gwen")
    page.goto("/accounts/login/")
    page.locator('input[name="login"]').fill("gwen")
    page.locator('input[name="password"]').fill("not-the-password")
    page.locator('main form button[type="submit"]').first.click()
    page.wait_for_selector(".form-errors")
    assert page.evaluate("() => document.activeElement.classList.contains('form-errors')")


# --- item 9: on a phone the heading starts in the first screen; the account menu stays put ---------

ACCOUNT_PAGES = [
    "/accounts/profile/",
    "/accounts/email/",
    "/accounts/2fa/",
    "/accounts/2fa/webauthn/",
    "/accounts/3rdparty/",
    "/accounts/sessions/",
    "/accounts/security/",
]  # and /accounts/password/change/ and /accounts/deactivate/, behind a fresh reauthentication


def test_on_a_phone_the_header_is_one_line_and_the_heading_is_near_the_top(
    phone, browser_context, live_server, screenshot
):
    sign_in(browser_context, live_server, free_user())
    phone.goto("/billing/reports/")  # a gate: lands on pricing with a message above the heading
    assert phone.locator(".site-header").bounding_box()["height"] <= 60
    assert top_of(phone, "main h1") < 260
    screenshot("phone-pricing-with-message")
    for path in ACCOUNT_PAGES:
        phone.goto(path)
        assert phone.locator(".site-header").bounding_box()["height"] <= 60, path
        assert top_of(phone, "main h1") < 320, path
    screenshot("phone-sessions")


def test_on_a_phone_the_menu_opens_and_its_links_work(phone, browser_context, live_server, screenshot):
    sign_in(browser_context, live_server, free_user())
    phone.goto("/")
    menu_link = phone.locator(".nav-links").get_by_role("link", name="Subscription")
    assert not menu_link.is_visible()
    phone.get_by_text("Menu").click()
    assert menu_link.is_visible()
    screenshot("phone-menu-open")
    menu_link.click()
    phone.wait_for_url(live_server.url + "/billing/subscription/")
    assert phone.locator("h1").inner_text() == "Your subscription"


def test_on_a_desktop_the_nav_links_show_inline_without_a_menu_button(page, browser_context, live_server, screenshot):
    sign_in(browser_context, live_server, free_user())
    page.goto("/accounts/profile/")
    assert not page.locator(".nav-menu-toggle").is_visible()
    nav = page.locator(".nav-links")
    for name in ("Home", "Pricing", "Subscription", "Account"):
        assert nav.get_by_role("link", name=name).is_visible()
    assert nav.get_by_role("button", name="Sign out").is_visible()
    assert page.locator(".site-header").bounding_box()["height"] <= 70
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")  # brand
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Home"
    screenshot("desktop-profile")


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_account_menu_is_in_the_same_place_on_every_account_page(
    page, browser_context, live_server, size, screenshot
):
    from tests.e2e.shell import SIZES

    page.set_viewport_size(SIZES[size])
    sign_in(browser_context, live_server, free_user())
    boxes = {}
    for path in ACCOUNT_PAGES:
        page.goto(path)
        links = page.locator(".account-menu a")
        assert links.count() == 9
        boxes[path] = [links.nth(i).bounding_box() for i in range(9)]
    first = boxes[ACCOUNT_PAGES[0]]
    for path, placed in boxes.items():
        assert placed == first, f"the account menu moved on {path}"
    screenshot(f"{size}-sessions")


# --- item 12: the staff user `createsuperuser` makes signs in without a verification mail ----------


def test_a_staff_user_from_createsuperuser_signs_in_and_reaches_the_admin(page, live_server, monkeypatch):
    from django.core.management import call_command

    from tests.factories import DEFAULT_PASSWORD
    from tests.mfa_helpers import totp_code

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", DEFAULT_PASSWORD)
    call_command("createsuperuser", "--noinput", username="root", email="root@example.com", verbosity=0)
    page.goto("/admin/")
    page.locator('input[name="login"]').fill("root")
    page.locator('input[name="password"]').fill(DEFAULT_PASSWORD)
    page.locator('main form button[type="submit"]').first.click()
    # Staff must set up a second factor before the admin opens (accounts.mfa, tests/e2e/test_mfa.py).
    page.wait_for_url(live_server.url + "/accounts/2fa/")
    page.get_by_role("link", name="Set up an authenticator app").click()
    page.locator('input[name="password"]').fill(DEFAULT_PASSWORD)
    page.locator('main form button[type="submit"]').first.click()
    secret = page.locator("#authenticator_secret").input_value()
    page.locator('input[name="code"]').fill(totp_code(secret))
    page.locator('main form button[type="submit"]').first.click()
    page.wait_for_url(live_server.url + "/accounts/2fa/recovery-codes/")
    page.goto("/admin/")
    page.locator('input[name="code"]').fill(totp_code(secret, steps_from_now=1))
    page.locator('main form button[type="submit"]').first.click()
    page.wait_for_url(live_server.url + "/admin/")
    assert page.locator("#site-name").inner_text() == "Gatehouse administration"


# --- item 2: pricing as a customer reads it ------------------------------------------------------


@pytest.fixture
def plans_on_sale(fake_stripe_settings):
    from billing.models import Plan
    from tests.billing.fake_billing import ensure_demo_plans

    ensure_demo_plans()
    for code in ("pro-monthly", "business-monthly"):
        Plan.objects.filter(code=code).update(stripe_product_id=f"prod_{code}", stripe_price_id=f"price_{code}")


def card(page, name: str):
    return page.locator("article.plan", has=page.get_by_role("heading", name=name, exact=True))


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_gated_page_sends_a_free_user_to_pricing_with_pro_highlighted(
    page, browser_context, live_server, plans_on_sale, size, screenshot
):
    from tests.e2e.shell import SIZES

    page.set_viewport_size(SIZES[size])
    sign_in(browser_context, live_server, free_user())
    page.goto("/billing/reports/")
    assert page.url == live_server.url + "/billing/pricing/?needs=pro"
    pro = card(page, "Pro")
    assert "plan-highlighted" in pro.get_attribute("class")
    assert pro.get_by_text("The page you tried to open is part of the Pro plan.").is_visible()
    assert pro.locator(".price").inner_text() == "$19 / month"
    assert card(page, "Free").locator(".price").inner_text() == "$0 forever"
    # The current plan is outlined; every card has exactly one action.
    free_border = card(page, "Free").evaluate("(node) => getComputedStyle(node).borderTopWidth")
    assert free_border == "2px"
    for name in ("Free", "Pro", "Business"):
        actions = card(page, name).locator(".plan-action").locator("a, button")
        assert actions.count() == 1, name
        assert actions.first.is_visible()
    assert card(page, "Pro").get_by_role("button", name="Subscribe to Pro").is_enabled()
    assert not card(page, "Free").get_by_role("button").is_enabled()
    if size == "phone":
        assert top_of(page, "article.plan-highlighted") < 2 * PHONE["height"]
    screenshot(f"{size}-pricing-gated")


def test_without_billing_a_paid_card_shows_its_disabled_button_and_why(
    page, browser_context, live_server, unconfigured, screenshot
):
    from tests.billing.fake_billing import ensure_demo_plans

    ensure_demo_plans()
    sign_in(browser_context, live_server, free_user())
    page.goto("/billing/pricing/")
    button = card(page, "Pro").get_by_role("button", name="Subscribe to Pro")
    assert button.is_disabled()
    assert button.get_attribute("aria-describedby") == "plan-pro-monthly-reason"
    assert page.locator("#plan-pro-monthly-reason").inner_text() == "Paid plans are not available yet."
    screenshot("desktop-pricing-unconfigured")


def test_a_subscriber_sees_their_plan_marked_and_a_switch_on_the_others(
    page, browser_context, live_server, plans_on_sale, screenshot
):
    from tests.e2e.shell import subscribe

    user = free_user("paula")
    subscribe(user, "pro-monthly")
    sign_in(browser_context, live_server, user)
    page.goto("/billing/pricing/")
    pro = card(page, "Pro")
    assert pro.get_by_text("Your current plan").is_visible()
    assert pro.get_by_role("link", name="Manage your subscription").is_visible()
    assert card(page, "Business").get_by_role("link", name="Switch to Business").is_visible()
    assert card(page, "Free").get_by_role("link", name="Cancel Pro to move to Free").is_visible()
    screenshot("desktop-pricing-subscriber")
