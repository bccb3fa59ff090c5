"""The account pages as a new user meets them in Chromium (issue 15, "Portal finish")."""

import re

import pytest

from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_FOLDER = "account-portal"


def sign_in(page, login: str, password: str = DEFAULT_PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill(password)
    page.locator('main form[method="post"] button[type="submit"]').first.click()


@pytest.fixture
def no_providers(settings):
    settings.SOCIALACCOUNT_PROVIDERS = {
        provider: {**config, "APPS": []} for provider, config in settings.SOCIALACCOUNT_PROVIDERS.items()
    }


def test_without_providers_nothing_offers_google_or_github(page, screenshot, no_providers):
    UserFactory(username="carol", email="carol@example.com")
    page.goto("/")
    assert page.get_by_text("Google").count() == 0
    assert page.get_by_text("Sign in with a password or a one-time code sent by email.").is_visible()
    sign_in(page, "carol")
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    page.get_by_role("link", name="Connected accounts").click()
    assert page.get_by_role("heading", name="Connected accounts").is_visible()
    assert page.get_by_role("heading", name=re.compile("third-party|Connect an account", re.I)).count() == 0
    assert page.get_by_text("Signing in with another service is not set up on this server").is_visible()
    screenshot("connections-none-configured")


def test_sign_up_check_your_email_fix_the_address_confirm_and_be_signed_in(page, screenshot, settings):
    from django.core import mail

    from tests.accounts.mail import last_mail_to, link_in

    settings.SUPPORT_EMAIL = "help@gatehouse.example"
    page.goto("/accounts/signup/")
    page.locator('input[name="email"]').fill("dora@exmaple.com")
    page.locator('input[name="username"]').fill("dora")
    page.locator('input[name="password1"]').fill("a-long-and-new-password-42")
    page.locator('input[name="password2"]').fill("a-long-and-new-password-42")
    page.locator('main form[method="post"] button[type="submit"]').first.click()
    page.wait_for_url(re.compile(r".*/accounts/confirm-email/$"))
    assert page.get_by_role("heading", name="Check your email").is_visible()
    assert page.get_by_text("We sent a link to dora@exmaple.com").is_visible()
    resend = page.get_by_role("button", name="Send the email again")
    assert resend.is_disabled()
    assert page.get_by_text(re.compile(r"You can ask for another email in (3 minutes|2 minutes)")).is_visible()
    contact = page.get_by_role("link", name="Contact us at help@gatehouse.example")
    assert contact.get_attribute("href") == "mailto:help@gatehouse.example"
    screenshot("check-your-email")

    page.get_by_label("The right email address").fill("dora@example.com")
    page.get_by_role("button", name="Send the link there instead").click()
    page.wait_for_url(re.compile(r".*/accounts/confirm-email/$"))
    assert page.get_by_text("We sent a link to dora@example.com").is_visible()
    screenshot("address-corrected")

    link = link_in(last_mail_to("dora@example.com"), "/accounts/confirm-email/")
    assert not [m for m in mail.outbox if "dora@exmaple.com" in m.to and link_in(m, "/accounts/confirm-email/") == link]
    page.goto(link)
    page.get_by_role("button", name=re.compile("Confirm", re.I)).click()
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    assert page.get_by_role("heading", name="Profile").is_visible()
    screenshot("confirmed-and-signed-in")


def test_the_sign_in_pages_use_one_name_per_action_and_a_phone_friendly_code_field(browser, live_server, settings):
    from tests.accounts.mail import code_in, last_mail_to

    UserFactory(username="erin", email="erin@example.com")
    phone = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    try:
        page.goto("/accounts/login/")
        assert page.get_by_role("heading", name="Sign in", exact=True).is_visible()
        assert page.get_by_role("link", name="Create an account").is_visible()
        page.get_by_label("Username or email").fill("erin")
        page.get_by_label("Password", exact=True).fill("not-the-password")
        page.get_by_role("button", name="Sign in", exact=True).click()
        assert page.get_by_text("That username and password do not match an account.").is_visible()
        assert page.get_by_text("and/or").count() == 0

        page.get_by_role("link", name="Send me a sign-in code").click()
        page.get_by_label("Email").fill("erin@example.com")
        page.get_by_role("button", name="Send me the code").click()
        page.wait_for_url(re.compile(r".*/accounts/login/code/confirm/$"))
        assert page.get_by_text("It expires in 5 minutes.").is_visible()
        code_field = page.get_by_label("Code")
        assert code_field.get_attribute("inputmode") == "numeric"
        assert code_field.get_attribute("autocomplete") == "one-time-code"
        code = code_in(last_mail_to("erin@example.com"))
        code_field.fill("000000" if code != "000000" else "111111")
        page.get_by_role("button", name="Sign in", exact=True).click()
        assert page.get_by_text("That code is not right. 2 tries left.").is_visible()
        page.screenshot(path=str(_shot("code-wrong-phone")), full_page=True)
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    finally:
        phone.close()


def _shot(name: str):
    from tests.e2e.conftest import SCREENSHOTS

    folder = SCREENSHOTS / SCREENSHOT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"phone-{name}.png"


def test_no_dead_ends_after_a_reset_or_on_a_deactivated_account(page, screenshot, settings):
    from tests.accounts.mail import last_mail_to, link_in

    settings.SUPPORT_EMAIL = "help@gatehouse.example"
    UserFactory(username="finn", email="finn@example.com")
    page.goto("/accounts/password/reset/")
    page.get_by_label("Email").fill("finn@example.com")
    page.get_by_role("button", name="Send the reset link").click()
    page.wait_for_url(re.compile(r".*/accounts/password/reset/done/$"))
    assert page.get_by_role("link", name="Contact us at help@gatehouse.example").is_visible()
    page.goto(link_in(last_mail_to("finn@example.com"), "/accounts/password/reset/key/"))
    page.get_by_label("New password", exact=True).fill("another-long-unusual-passphrase-77")
    page.get_by_label("New password again").fill("another-long-unusual-passphrase-77")
    page.get_by_role("button", name="Change password").click()
    assert page.get_by_role("heading", name="Your password is changed").is_visible()
    screenshot("reset-done")
    page.get_by_role("link", name="Sign in", exact=True).last.click()
    page.wait_for_url(re.compile(r".*/accounts/login/$"))

    UserFactory(username="gus", email="gus@example.com", is_active=False)
    sign_in(page, "gus")
    assert page.get_by_role("heading", name="This account is deactivated").is_visible()
    help_link = page.get_by_role("link", name="help@gatehouse.example")
    assert help_link.get_attribute("href") == "mailto:help@gatehouse.example"
    screenshot("deactivated")


def test_the_session_list_names_each_browser_and_signs_out_one_session(browser, page, live_server, screenshot):
    UserFactory(username="hana", email="hana@example.com")
    sign_in(page, "hana")
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    phone = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 390, "height": 844},
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
    )
    phone_page = phone.new_page()
    try:
        sign_in(phone_page, "hana")
        phone_page.wait_for_url(re.compile(r".*/accounts/profile/$"))
        page.get_by_role("link", name="Sessions").click()
        rows = page.locator("main li.row")
        assert rows.count() == 2
        mine = rows.filter(has_text="this device")
        assert re.search(r"^Chrome on Linux · active now · this device", mine.inner_text())
        other = rows.filter(has_text="Safari on iPhone")
        assert re.search(r"Safari on iPhone · last active", other.inner_text())
        assert page.get_by_text("Mozilla/5.0").count() == 0, "no raw User-Agent strings"
        screenshot("sessions")
        other.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(r".*/accounts/sessions/$"))
        assert page.locator("main li.row").count() == 1
        phone_page.goto("/accounts/profile/")
        assert "/accounts/login/" in phone_page.url, "the phone was signed out"
    finally:
        phone.close()


def test_an_unverified_sign_in_lands_on_check_your_email_and_is_told_why(page, screenshot):
    # Issue 15 item 5: signing in before confirming the address says why the form did not sign you in.
    UserFactory(username="hana", email="hana@example.com", verified=False)
    sign_in(page, "hana")
    page.wait_for_url(re.compile(r".*/accounts/confirm-email/$"))
    assert page.get_by_role("heading", name="Check your email").is_visible()
    why = page.get_by_role("status").filter(has_text="You can sign in once your email address is confirmed.")
    assert why.is_visible()
    assert "We have sent you a new link for that." in why.inner_text()
    assert page.get_by_text("We sent a link to hana@example.com").is_visible()
    assert page.get_by_role("button", name="Send the email again").is_visible()
    screenshot("unverified-sign-in")


def test_a_used_or_expired_reset_link_says_so_in_words_and_offers_a_new_one(page, screenshot):
    # Issue 15 item 6: no "Bad Token"; the way on is a link, in sentence case.
    UserFactory(username="ines", email="ines@example.com")
    page.goto("/accounts/password/reset/key/1-not-a-real-key/")
    assert page.get_by_role("heading", name="This link no longer works").is_visible()
    assert page.get_by_text("Bad Token").count() == 0
    assert page.get_by_text(re.compile("has been used already, or it has expired")).is_visible()
    page.get_by_role("link", name="Ask for a new one").click()
    page.wait_for_url(re.compile(r".*/accounts/password/reset/$"))
    assert page.get_by_role("button", name="Send the reset link").is_visible()
    screenshot("reset-link-expired")
