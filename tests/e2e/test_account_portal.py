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
