"""The production API limit (5/min) against the real cache (Redis in CI)."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.api.conftest import bearer, login
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.real_rate_limits]


def hit(api, times, path="/api/forget-password", **extra):
    return [api.post(path, {"email": "x@example.com"}, format="json", **extra) for _ in range(times)]


def test_the_sixth_request_in_a_minute_is_429_with_retry_after(api):
    responses = hit(api, 6)
    assert [r.status_code for r in responses] == [202] * 5 + [429]
    limited = responses[-1]
    assert limited.json() == {"detail": "Too many requests. Try again later."}
    assert 1 <= int(limited["Retry-After"]) <= 60


def test_each_client_ip_has_its_own_bucket(api):
    hit(api, 5, REMOTE_ADDR="10.0.0.1")
    assert hit(api, 1, REMOTE_ADDR="10.0.0.1")[0].status_code == 429
    assert hit(api, 1, REMOTE_ADDR="10.0.0.2")[0].status_code == 202


def test_each_endpoint_counts_separately(api):
    hit(api, 5)
    assert api.post("/api/request/login-code", {"email": "x@example.com"}, format="json").status_code == 200


def test_each_token_holder_has_its_own_bucket_behind_one_ip(db):
    UserFactory(username="alice", email="alice@example.com")
    UserFactory(username="bob", email="bob@example.com")
    with override_settings(API_RATE_LIMIT_DEFAULT="1000/m"):
        alice = login(APIClient(), "alice")
        bob = login(APIClient(), "bob")
    alice_api, bob_api = bearer(APIClient(), alice["token"]), bearer(APIClient(), bob["token"])
    assert [alice_api.get("/api/me").status_code for _ in range(6)] == [200] * 5 + [429]
    assert bob_api.get("/api/me").status_code == 200


def test_a_made_up_authorization_header_does_not_escape_the_ip_bucket(api):
    for index in range(5):
        api.post(
            "/api/forget-password", {"email": "x@example.com"}, format="json", HTTP_AUTHORIZATION=f"Bearer junk{index}"
        )
    response = api.post(
        "/api/forget-password", {"email": "x@example.com"}, format="json", HTTP_AUTHORIZATION="Bearer junk-x"
    )
    assert response.status_code == 429


def test_a_forged_forwarded_for_header_is_ignored_without_trusted_proxies(api):
    for index in range(5):
        hit(api, 1, HTTP_X_FORWARDED_FOR=f"198.51.100.{index}")
    assert hit(api, 1, HTTP_X_FORWARDED_FOR="198.51.100.99")[0].status_code == 429


@override_settings(ALLAUTH_TRUSTED_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_the_forwarded_client_is_the_key(api):
    hit(api, 5, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert hit(api, 1, HTTP_X_FORWARDED_FOR="203.0.113.7")[0].status_code == 429
    assert hit(api, 1, HTTP_X_FORWARDED_FOR="203.0.113.8")[0].status_code == 202


@override_settings(API_RATE_LIMITS={"api-login": "2/m"})
def test_limits_are_configurable_per_endpoint(api):
    UserFactory(username="alice", email="alice@example.com")
    statuses = [
        api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_the_schema_and_docs_are_not_limited(api):
    assert {api.get("/api/schema/").status_code for _ in range(7)} == {200}


def test_it_answers_429_to_password_guessing_with_tokens_minted_by_refreshing_one_login(db):
    """The probe's attack: log in once, refresh 15 times (each time with the newest token as the
    bearer), then guess another account's password 36 times, each guess with another of the tokens."""
    UserFactory(username="mallory", email="mallory@example.com")
    UserFactory(username="bob", email="bob@example.com")
    attacker = APIClient()
    pair = login(attacker, "mallory")
    access_tokens, refresh_statuses = [pair["token"]], []
    for _ in range(15):
        response = attacker.post(
            "/api/refresh-token",
            {"refresh_token": pair["refresh_token"]},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {access_tokens[-1]}",
        )
        refresh_statuses.append(response.status_code)
        if response.status_code == 200:
            pair = response.json()
            access_tokens.append(pair["token"])

    guesses = [
        APIClient()
        .post(
            "/api/login",
            {"email": "bob", "password": f"guess-{n}"},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {access_tokens[n % len(access_tokens)]}",
        )
        .status_code
        for n in range(36)
    ]

    # All tokens of one login share its bucket: refreshing stops being free, and so does guessing.
    assert 429 in refresh_statuses
    assert 429 in guesses
    assert guesses.count(401) <= 5


def test_it_puts_a_revoked_logins_token_in_the_client_ip_bucket(db):
    UserFactory(username="alice", email="alice@example.com")
    with override_settings(API_RATE_LIMIT_DEFAULT="1000/m"):
        revoked = login(APIClient(), "alice")
        assert bearer(APIClient(), revoked["token"]).post("/api/logout", {}, format="json").status_code == 204
    api = APIClient()
    hit(api, 5)

    response = hit(api, 1, HTTP_AUTHORIZATION=f"Bearer {revoked['token']}")[0]

    assert response.status_code == 429


def test_it_puts_a_deactivated_users_token_in_the_client_ip_bucket(db):
    from accounts.models import User

    UserFactory(username="alice", email="alice@example.com")
    with override_settings(API_RATE_LIMIT_DEFAULT="1000/m"):
        tokens = login(APIClient(), "alice")
    User.objects.update(is_active=False)  # even were a family of theirs left unrevoked
    api = APIClient()
    hit(api, 5)

    assert hit(api, 1, HTTP_AUTHORIZATION=f"Bearer {tokens['token']}")[0].status_code == 429


def test_it_gives_the_tokens_of_one_login_one_bucket(db):
    UserFactory(username="alice", email="alice@example.com")
    with override_settings(API_RATE_LIMIT_DEFAULT="1000/m"):
        first = login(APIClient(), "alice")
        second = APIClient().post("/api/refresh-token", {"refresh_token": first["refresh_token"]}, format="json").json()
    statuses = [bearer(APIClient(), first["token"]).get("/api/me").status_code for _ in range(3)]
    statuses += [bearer(APIClient(), second["token"]).get("/api/me").status_code for _ in range(3)]
    assert statuses == [200] * 5 + [429]


# --- Failed password logins: one per-account counter for the portal and the API (allauth's) ------

LOCKED = {"detail": "Too many failed login attempts. Try again later."}


def portal_login(login, password):
    from django.test import Client

    return Client().post("/accounts/login/", {"login": login, "password": password})


def api_login(login, password):
    return APIClient().post("/api/login", {"email": login, "password": password}, format="json")


@pytest.fixture
def generous_api_limit():
    """The API's own limiter out of the way: these tests are about allauth's failed-login counter."""
    with override_settings(API_RATE_LIMIT_DEFAULT="1000/m"):
        yield


@pytest.mark.parametrize("identifier", ["alice", "alice@example.com"])
def test_it_locks_both_after_portal_failures_and_one_api_failure(db, generous_api_limit, identifier):
    UserFactory(username="alice", email="alice@example.com")
    for _ in range(4):  # allauth's login_failed: 5 per 5 minutes per account (RATE_LIMIT_LOGIN_FAILED)
        assert "password do not match an account" in portal_login(identifier, "wrong-password").content.decode()
    assert api_login(identifier, "wrong-password").status_code == 401

    locked = api_login(identifier, DEFAULT_PASSWORD)
    portal = portal_login(identifier, DEFAULT_PASSWORD)

    assert locked.status_code == 429
    assert locked.json() == LOCKED
    assert 1 <= int(locked["Retry-After"]) <= 300
    assert portal.status_code == 200  # the form again, not a redirect into the account
    assert LOCKED["detail"] in portal.content.decode()


def test_it_locks_the_portal_after_api_failures(db, generous_api_limit):
    UserFactory(username="alice", email="alice@example.com")
    assert [api_login("alice", f"guess-{n}").status_code for n in range(6)] == [401] * 5 + [429]

    assert LOCKED["detail"] in portal_login("alice", DEFAULT_PASSWORD).content.decode()


def test_it_does_not_count_a_successful_api_login_as_a_failure(db, generous_api_limit):
    UserFactory(username="alice", email="alice@example.com")
    for _ in range(4):
        api_login("alice", "wrong-password")
    assert [api_login("alice", DEFAULT_PASSWORD).status_code for _ in range(3)] == [200] * 3
    assert api_login("alice", "wrong-password").status_code == 401
    assert api_login("alice", DEFAULT_PASSWORD).status_code == 429


def test_it_leaves_other_accounts_unlocked(db, generous_api_limit):
    UserFactory(username="alice", email="alice@example.com")
    UserFactory(username="bob", email="bob@example.com")
    for n in range(5):
        api_login("alice", f"guess-{n}")
    assert api_login("alice", DEFAULT_PASSWORD).status_code == 429
    assert api_login("bob", DEFAULT_PASSWORD).status_code == 200


def test_it_counts_one_account_once_however_its_login_is_typed(db, generous_api_limit):
    UserFactory(username="alice", email="alice@example.com")
    for typed in ("alice", "ALICE", "alice@example.com", "Alice@Example.com"):
        assert "password do not match an account" in portal_login(typed, "wrong-password").content.decode()
    assert api_login("alice@EXAMPLE.com", "wrong-password").status_code == 401

    assert api_login("alice", DEFAULT_PASSWORD).status_code == 429
    assert LOCKED["detail"] in portal_login("alice@example.com", DEFAULT_PASSWORD).content.decode()


def test_an_unknown_login_has_its_own_counter(db, generous_api_limit):
    UserFactory(username="alice", email="alice@example.com")
    for _ in range(5):
        api_login("nobody@example.com", "wrong-password")
    assert api_login("nobody@example.com", "wrong-password").status_code == 429
    assert api_login("alice", DEFAULT_PASSWORD).status_code == 200
