"""Account pages: they render for a signed-in member and their query counts are pinned."""

import pytest
from django.test import Client

from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

# Every signed-in page starts with: 1. the user row, 2. the user's subscription with access
# (the nav's Reports link). The session comes from the cache (cached_db), not the database.
SIGNED_IN = 2


@pytest.fixture
def member(user) -> Client:
    browser = Client()
    browser.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    browser.post("/accounts/reauthenticate/", {"password": DEFAULT_PASSWORD})
    return browser


@pytest.mark.parametrize(
    ("path", "queries", "shows"),
    [
        # + the profile row
        ("/accounts/profile/", SIGNED_IN + 1, "Save profile"),
        # + "is the login address listed", + the address list
        ("/accounts/email/", SIGNED_IN + 2, "alice@example.com"),
        # + allauth's "which ways can this person reauthenticate": one query per MFA type (3)
        ("/accounts/password/change/", SIGNED_IN + 3, "oldpassword"),
        # + the social accounts, + the social apps (read once: the page lists the providers it offers)
        ("/accounts/3rdparty/", SIGNED_IN + 2, "Connect Google"),
        # + the subscriptions deactivating would cancel (billing's hook, for "What happens to your plan"),
        # + allauth.mfa's reauthentication check: does the user have recovery codes, TOTP, WebAuthn
        ("/accounts/deactivate/", SIGNED_IN + 1 + 3, "Deactivate my account"),
    ],
)
def test_each_account_page_renders_with_a_fixed_number_of_queries(
    member, django_assert_num_queries, path, queries, shows
):
    with django_assert_num_queries(queries):
        response = member.get(path)
    assert response.status_code == 200
    assert shows in response.content.decode()


def test_the_sessions_page_lists_each_session_with_one_query_per_session(user, member, django_assert_num_queries):
    # allauth purges ended sessions while listing: per session an existence check (a cache hit
    # with cached_db), then the user is read again for the "current" marker.
    with django_assert_num_queries(SIGNED_IN + 1 + 1):
        response = member.get("/accounts/sessions/")
    assert response.status_code == 200
    other = Client()
    other.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    with django_assert_num_queries(SIGNED_IN + 1 + 1 * 2):
        response = member.get("/accounts/sessions/")
    assert response.content.decode().count('<li class="row">') == 2


def test_the_profile_form_saves_names(member, user):
    response = member.post("/accounts/profile/", {"first_name": "Ada", "last_name": "Lovelace"})
    assert response.status_code == 302
    user.profile.refresh_from_db()
    assert (user.profile.first_name, user.profile.last_name) == ("Ada", "Lovelace")


def test_the_profile_form_refuses_a_too_long_name(member, user):
    response = member.post("/accounts/profile/", {"first_name": "A" * 151})
    assert response.status_code == 422
    assert "Ensure this value has at most 150 characters" in response.content.decode()
    user.profile.refresh_from_db()
    assert user.profile.first_name == ""


def test_account_pages_need_a_signed_in_user(client, db):
    for path in ("/accounts/profile/", "/accounts/deactivate/", "/accounts/email/", "/accounts/sessions/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_ending_other_sessions_from_the_sessions_page(user, member):
    other = Client()
    other.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    response = member.post("/accounts/sessions/", {})
    assert response.status_code == 302
    assert other.get("/accounts/profile/").status_code == 302
    assert member.get("/accounts/profile/").status_code == 200
