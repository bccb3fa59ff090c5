"""The contract's Auth table (api-contract.md), walked in order as the mobile app uses it.

One user's life: sign up, sign in unverified, verify, refresh (body, cookie, seed query string),
a replayed refresh token, password change and reset, code login, social entry points, logout,
deactivation. Every status code and body shape is the contract's.
"""

from datetime import timedelta
from http.cookies import Morsel

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.accounts.mail import code_in, last_mail_to, link_in
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

EMAIL = "mobile@example.com"
USERNAME = "mobile"
PASSWORD = "a-long-and-unusual-passphrase-42"
CHANGED_PASSWORD = "another-long-unusual-passphrase-77"
RESET_PASSWORD = "a-third-long-unusual-passphrase-13"

USER_KEYS = {"id", "email", "username", "provider", "is_verified", "is_staff", "profile"}
PROFILE_KEYS = {"first_name", "last_name", "image_url"}
TOKEN_KEYS = {"token", "refresh_token", "type", "expires_in"}
ACCESS_LIFETIME = 15 * 60


# --- The contract's shapes ---------------------------------------------------------------------


def assert_user(body, **expected):
    assert set(body) == USER_KEYS, body
    assert set(body["profile"]) == PROFILE_KEYS, body["profile"]
    assert isinstance(body["id"], int)
    assert body["provider"] in {"local", "google", "github"}
    assert isinstance(body["is_verified"], bool)
    assert isinstance(body["is_staff"], bool)
    assert all(isinstance(value, str) for value in body["profile"].values())
    for key, value in expected.items():
        assert body[key] == value, (key, body)


def refresh_cookie(response) -> Morsel:
    assert "refresh_token" in response.cookies, "the refresh token must also be set as a cookie"
    return response.cookies["refresh_token"]


def assert_token_response(response, *, with_user: bool) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == (TOKEN_KEYS | {"user"} if with_user else TOKEN_KEYS), body
    assert body["type"] == "Bearer"
    assert body["expires_in"] == ACCESS_LIFETIME
    for jwt in (body["token"], body["refresh_token"]):
        assert isinstance(jwt, str)
        assert jwt.count(".") == 2, jwt
    cookie = refresh_cookie(response)
    assert cookie.value == body["refresh_token"]
    assert cookie["httponly"] is True
    assert cookie["path"] == "/api/"
    assert cookie["samesite"] == "Lax"
    if with_user:
        assert_user(body["user"])
    return body


def assert_message(response, status: int, message: str | None = None) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"message"}, body
    assert isinstance(body["message"], str)
    if message is not None:
        assert body["message"] == message
    return body["message"]


def assert_detail(response, status: int, message: str | None = None) -> str:
    """Every error but 422: {"detail": "<message>"}."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail"}, body
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if message is not None:
        assert body["detail"] == message
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    return body["detail"]


def assert_field_errors(response, *fields: str) -> dict:
    """422: {"errors": {"<field>": "<message>"}}, one string per field."""
    assert response.status_code == 422, response.content
    body = response.json()
    assert set(body) == {"errors"}, body
    errors = body["errors"]
    assert set(fields) <= set(errors), errors
    assert all(isinstance(message, str) and message for message in errors.values()), errors
    return errors


# --- The app's calls ----------------------------------------------------------------------------


def app() -> APIClient:
    """A fresh app install: no cookies, no token."""
    return APIClient()


def as_bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def post(client, path, body=None):
    return client.post(path, body if body is not None else {}, format="json")


def log_in(client, login=EMAIL, password=PASSWORD):
    return post(client, "/api/login", {"email": login, "password": password})


def refresh_with(refresh_token: str):
    return post(app(), "/api/refresh-token", {"refresh_token": refresh_token})


def last_link_key(address: str, path_prefix: str) -> str:
    return link_in(last_mail_to(address), path_prefix).rstrip("/").rsplit("/", 1)[-1]


def test_the_auth_table_walked_as_the_mobile_app_uses_it(committing):
    # POST /api/register → 201 user (exactly the contract's keys), unverified, mail sent.
    with committing():
        response = post(app(), "/api/register", {"email": EMAIL, "username": USERNAME, "password": PASSWORD})
    assert response.status_code == 201, response.content
    registered = response.json()
    assert_user(
        registered,
        email=EMAIL,
        username=USERNAME,
        provider="local",
        is_verified=False,
        is_staff=False,
        profile={"first_name": "", "last_name": "", "image_url": ""},
    )
    # 422 per field, "already taken" case-insensitively for the email and for the username.
    taken = post(app(), "/api/register", {"email": EMAIL.upper(), "username": "other", "password": PASSWORD})
    assert "already taken" in assert_field_errors(taken, "email")["email"]
    taken = post(app(), "/api/register", {"email": "other@example.com", "username": USERNAME, "password": PASSWORD})
    assert "already taken" in assert_field_errors(taken, "username")["username"]
    assert set(assert_field_errors(post(app(), "/api/register", {}), "email", "username", "password")) == {
        "email",
        "username",
        "password",
    }
    # Conventions: form-wide errors under "__all__"; malformed JSON or another content type → 4xx detail.
    assert set(assert_field_errors(post(app(), "/api/register", ["not", "an", "object"]), "__all__")) == {"__all__"}
    assert_detail(app().post("/api/register", data="{not json", content_type="application/json"), 400)
    assert_detail(app().post("/api/register", data="email=a@b.example", content_type="text/plain"), 415)

    # POST /api/login while unverified → 200 token response (the seed let unverified users in).
    tokens = assert_token_response(log_in(app()), with_user=True)
    assert_user(tokens["user"], id=registered["id"], email=EMAIL, is_verified=False)
    unverified = as_bearer(tokens["token"])
    assert_detail(log_in(app(), password="wrong-password"), 401, "Invalid email or password")
    assert_detail(log_in(app(), login="nobody@example.com"), 401, "Invalid email or password")

    # GET /api/me → 200 user; without a token 401 with WWW-Authenticate: Bearer.
    me = unverified.get("/api/me")
    assert me.status_code == 200
    assert me.json() == tokens["user"]
    assert_detail(app().get("/api/me"), 401)

    # PATCH /api/me is an A route: 403 until the address is verified (so are the other A routes).
    not_verified = "Email address is not verified."
    assert_detail(unverified.patch("/api/me", {"first_name": "Mo"}, format="json"), 403, not_verified)
    change = {"old_password": PASSWORD, "new_password": CHANGED_PASSWORD}
    assert_detail(post(unverified, "/api/change-password", change), 403, not_verified)
    assert_detail(post(unverified, "/api/deactivate", {"password": PASSWORD}), 403, not_verified)

    # POST /api/request/verify → right after sign-up's mail it is rate limited (429, Retry-After) ...
    too_soon = post(unverified, "/api/request/verify")
    assert_detail(too_soon, 429)
    assert int(too_soon["Retry-After"]) > 0
    # ... and three minutes later (the cooldown lives in the cache) 202 with a fresh link.
    cache.clear()
    with committing():
        assert_message(post(unverified, "/api/request/verify"), 202)
    assert_detail(post(app(), "/api/request/verify"), 401)

    # GET /api/verify?token=<key from the mailed /accounts/confirm-email/<key>/ link> → 202, then "already".
    key = last_link_key(EMAIL, "/accounts/confirm-email/")
    assert_message(app().get("/api/verify", {"token": key}), 202, "Email is Verified")
    assert_message(app().get("/api/verify", {"token": key}), 202, "Email is already Verified")
    assert_detail(app().get("/api/verify", {"token": key[:-4] + "AAAA"}), 401)
    assert_detail(app().get("/api/verify"), 401)

    # PATCH /api/me now → 200 user with the new profile (the same token: verification is live).
    profile = {"first_name": "Mo", "last_name": "Bile", "image_url": "https://example.com/mo.png"}
    patched = unverified.patch("/api/me", profile, format="json")
    assert patched.status_code == 200, patched.content
    assert_user(patched.json(), id=registered["id"], is_verified=True, profile=profile)
    assert_field_errors(unverified.patch("/api/me", {"image_url": "not a url"}, format="json"), "image_url")

    # POST /api/refresh-token with the body → 200 token response without `user`, rotated.
    phone = app()  # keeps the cookie each answer sets, as a cookie-aware HTTP stack would
    first_refresh = tokens["refresh_token"]
    rotated = assert_token_response(
        post(phone, "/api/refresh-token", {"refresh_token": first_refresh}), with_user=False
    )
    assert rotated["refresh_token"] != first_refresh
    assert as_bearer(rotated["token"]).get("/api/me").status_code == 200
    # ... with the cookie only (no body) ...
    by_cookie = assert_token_response(post(phone, "/api/refresh-token"), with_user=False)
    assert by_cookie["refresh_token"] != rotated["refresh_token"]
    # ... and with the seed clients' ?token= (no body, no cookie).
    by_query = app().post(f"/api/refresh-token?token={by_cookie['refresh_token']}", format="json")
    newest = assert_token_response(by_query, with_user=False)
    assert_detail(post(app(), "/api/refresh-token"), 401)
    assert_detail(refresh_with("not-a-jwt"), 401)

    # A replayed (already rotated) refresh token → 401, and the whole login is revoked:
    # the newest refresh and access tokens of that login die with it.
    assert "already used" in assert_detail(refresh_with(first_refresh), 401)
    assert_detail(refresh_with(newest["refresh_token"]), 401)
    assert_detail(as_bearer(newest["token"]).get("/api/me"), 401)
    assert_detail(unverified.get("/api/me"), 401)

    # POST /api/login again → a new login; a second device signs in too.
    session = assert_token_response(log_in(app(), login=USERNAME), with_user=True)
    assert_user(session["user"], is_verified=True, profile=profile)
    other_device = assert_token_response(log_in(app()), with_user=True)
    signed_in = as_bearer(session["token"])

    # POST /api/change-password → 200 message; other logins' refresh tokens revoked, this one kept.
    wrong_old = {"old_password": "not-my-password", "new_password": CHANGED_PASSWORD}
    assert_detail(post(signed_in, "/api/change-password", wrong_old), 403, "Old password isn't correct.")
    weak = {"old_password": PASSWORD, "new_password": "123"}
    assert_field_errors(post(signed_in, "/api/change-password", weak), "new_password")
    with committing():
        assert_message(post(signed_in, "/api/change-password", change), 200)
    assert_detail(refresh_with(other_device["refresh_token"]), 401)
    session = assert_token_response(refresh_with(session["refresh_token"]), with_user=False)
    assert_detail(log_in(app(), password=PASSWORD), 401, "Invalid email or password")
    assert_token_response(log_in(app(), password=CHANGED_PASSWORD), with_user=True)

    # POST /api/forget-password → 202 with the same body whether or not the account exists.
    with committing():
        known = post(app(), "/api/forget-password", {"email": EMAIL})
        unknown = post(app(), "/api/forget-password", {"email": "nobody@example.com"})
    generic = assert_message(known, 202)
    assert_message(unknown, 202, generic)
    assert_field_errors(post(app(), "/api/forget-password", {"email": "not-an-email"}), "email")

    # POST /api/new-password with the token from the mailed reset link → 202; every refresh token revoked.
    reset_token = last_link_key(EMAIL, "/accounts/password/reset/key/")
    assert_detail(post(app(), "/api/new-password", {"token": "1-not-a-key", "password": RESET_PASSWORD}), 401)
    assert_field_errors(post(app(), "/api/new-password", {"token": reset_token, "password": "short"}), "password")
    with committing():
        assert_message(post(app(), "/api/new-password", {"token": reset_token, "password": RESET_PASSWORD}), 202)
    assert_detail(refresh_with(session["refresh_token"]), 401)
    assert_detail(post(app(), "/api/new-password", {"token": reset_token, "password": RESET_PASSWORD}), 401)

    # POST /api/request/login-code → 200, the same body for an unknown address; the code signs in once.
    with committing():
        requested = post(app(), "/api/request/login-code", {"email": EMAIL})
        requested_unknown = post(app(), "/api/request/login-code", {"email": "nobody@example.com"})
    generic = assert_message(requested, 200)
    assert_message(requested_unknown, 200, generic)
    assert_field_errors(post(app(), "/api/request/login-code", {"email": "nope"}), "email")
    code = code_in(last_mail_to(EMAIL))
    by_code = assert_token_response(post(app(), "/api/login/code", {"email": EMAIL, "code": code}), with_user=True)
    assert_user(by_code["user"], id=registered["id"], is_verified=True)
    assert_detail(post(app(), "/api/login/code", {"email": EMAIL, "code": code}), 400, "Invalid code or email.")

    # GET /api/google/login and /api/github/login: an allow-listed app URI → 302 into the provider,
    # anything else → 400.
    for provider, host in (("google", "accounts.google.com"), ("github", "github.com")):
        started = app().get(f"/api/{provider}/login", {"next": "gatehouse://signed-in"})
        assert started.status_code == 302, started.content
        assert f"//{host}/" in started["Location"]
        assert_detail(app().get(f"/api/{provider}/login", {"next": "https://evil.example/steal"}), 400)
        assert_detail(app().get(f"/api/{provider}/login"), 400)

    # POST /api/social/exchange with an unknown handoff code → 401; a bad Google ID token → 401.
    assert_detail(post(app(), "/api/social/exchange", {"code": "never-issued"}), 401)
    assert_detail(post(app(), "/api/social/google/token", {"id_token": "not-a-google-token"}), 401)

    # POST /api/logout → 204, no body; that login's tokens are revoked and the cookie cleared.
    logged_out = post(as_bearer(by_code["token"]), "/api/logout", {"refresh_token": by_code["refresh_token"]})
    assert logged_out.status_code == 204
    assert logged_out.content == b""
    cleared = refresh_cookie(logged_out)
    assert cleared.value == ""
    assert cleared["path"] == "/api/"
    assert str(cleared["max-age"]) == "0"
    assert_detail(refresh_with(by_code["refresh_token"]), 401)
    assert_detail(as_bearer(by_code["token"]).get("/api/me"), 401)
    assert_detail(post(app(), "/api/logout"), 401)

    # POST /api/deactivate → 403 with a wrong password, 202 "User deactivated." with the right one.
    final = assert_token_response(log_in(app(), password=RESET_PASSWORD), with_user=True)
    with committing():
        assert_message(post(app(), "/api/request/login-code", {"email": EMAIL}), 200)
    code_before_deactivation = code_in(last_mail_to(EMAIL))
    spare = assert_token_response(log_in(app(), password=RESET_PASSWORD), with_user=True)
    signed_in = as_bearer(final["token"])
    assert_detail(post(signed_in, "/api/deactivate", {"password": "not-my-password"}), 403)
    with committing():
        assert_message(post(signed_in, "/api/deactivate", {"password": RESET_PASSWORD}), 202, "User deactivated.")

    # Afterwards: login → 403 "User is disabled"; every token issued before → 401 (WWW-Authenticate: Bearer).
    assert_detail(log_in(app(), password=RESET_PASSWORD), 403, "User is disabled")
    late_code = {"email": EMAIL, "code": code_before_deactivation}
    assert_detail(post(app(), "/api/login/code", late_code), 403, "User is disabled")
    for old in (final, spare):
        assert_detail(as_bearer(old["token"]).get("/api/me"), 401)
        assert_detail(refresh_with(old["refresh_token"]), 401)


def expired(access_token: str) -> str:
    token = AccessToken(access_token)
    token.set_exp(from_time=token.current_time - timedelta(hours=1))
    return str(token)


def test_refresh_works_while_the_app_still_sends_its_expired_access_token(user):
    tokens = assert_token_response(log_in(app(), login="alice", password=DEFAULT_PASSWORD), with_user=True)
    stale = as_bearer(expired(tokens["token"]))
    assert_detail(stale.get("/api/me"), 401)
    assert_token_response(
        post(stale, "/api/refresh-token", {"refresh_token": tokens["refresh_token"]}), with_user=False
    )
