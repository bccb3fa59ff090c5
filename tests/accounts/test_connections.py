"""Connected accounts and the home page offer only the sign-in services this server has set up."""

import pytest
from django.test import Client

from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(user) -> Client:
    browser = Client()
    browser.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    return browser


@pytest.fixture
def no_providers(settings):
    settings.SOCIALACCOUNT_PROVIDERS = {
        provider: {**config, "APPS": []} for provider, config in settings.SOCIALACCOUNT_PROVIDERS.items()
    }


@pytest.fixture
def google_only(settings):
    settings.SOCIALACCOUNT_PROVIDERS = {
        **settings.SOCIALACCOUNT_PROVIDERS,
        "github": {**settings.SOCIALACCOUNT_PROVIDERS["github"], "APPS": []},
    }


def test_it_does_not_offer_to_add_an_account_when_no_provider_is_configured(member, no_providers):
    page = member.get("/accounts/3rdparty/").content.decode()
    assert "Add a Third-Party Account" not in page
    assert "Connect an account" not in page
    assert "Signing in with another service is not set up on this server" in page
    assert "Google" not in page
    assert "GitHub" not in page


def test_it_offers_to_connect_only_the_configured_provider(member, google_only):
    page = member.get("/accounts/3rdparty/").content.decode()
    assert "Connect an account" in page
    assert "Connect Google" in page
    assert "GitHub" not in page


def test_the_home_page_promises_only_the_configured_sign_in_services(client, no_providers, settings):
    page = client.get("/").content.decode()
    assert "Google" not in page
    assert "GitHub" not in page
    assert "Sign in with a password or a one-time code sent by email." in page


def test_the_home_page_names_each_configured_provider(client, google_only):
    page = client.get("/").content.decode()
    assert "or your Google account." in page
    assert "GitHub" not in page


def test_the_sign_in_page_says_continue_with_a_provider_not_connect(client, google_only):
    page = client.get("/accounts/login/").content.decode()
    assert "Continue with Google" in page
    assert "Connect Google" not in page
