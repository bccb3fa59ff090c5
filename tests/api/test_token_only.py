"""The API is token-only: no endpoint creates a browser session or sets a session (or messages) cookie.

Only the social web flow (/api/{google,github}/login → the provider → /api/social/complete) runs in
the browser and uses the session for the length of that flow (tests/api/test_social_api.py).
"""

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from rest_framework.test import APIClient

from accounts.services import create_social_handoff
from tests.accounts.mail import code_in, last_mail_to
from tests.api.conftest import bearer, login
from tests.factories import DEFAULT_PASSWORD
from tests.social_fakes import GRACE, FakeGoogle, install

pytestmark = pytest.mark.django_db

BROWSER_COOKIES = {settings.SESSION_COOKIE_NAME, "messages"}  # messages: CookieStorage.cookie_name


def assert_token_only(response):
    assert response.status_code < 300, response.content
    assert BROWSER_COOKIES.isdisjoint(response.cookies), response.cookies.output()
    assert not Session.objects.exists()


def test_it_registers_without_a_session(api, db, committing):
    with committing():
        data = {"email": "new@example.com", "username": "new", "password": DEFAULT_PASSWORD}
        response = api.post("/api/register", data, format="json")
    assert response.status_code == 201
    assert_token_only(response)
    assert last_mail_to("new@example.com")  # the verification mail still went out


def test_it_logs_in_and_refreshes_without_a_session(api, user):
    response = api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json")
    assert_token_only(response)
    refresh_token = response.json()["refresh_token"]
    refreshed = APIClient().post("/api/refresh-token", {"refresh_token": refresh_token}, format="json")
    assert_token_only(refreshed)
    assert_token_only(bearer(APIClient(), refreshed.json()["token"]).get("/api/me"))


def test_it_logs_in_with_a_code_without_a_session(api, user, committing):
    with committing():
        assert_token_only(api.post("/api/request/login-code", {"email": "alice@example.com"}, format="json"))
    code = code_in(last_mail_to("alice@example.com"))
    assert_token_only(api.post("/api/login/code", {"email": "alice@example.com", "code": code}, format="json"))


def test_it_exchanges_a_social_handoff_without_a_session(api, user):
    code = create_social_handoff(user=user)
    assert_token_only(api.post("/api/social/exchange", {"code": code}, format="json"))


def test_it_signs_in_with_a_google_id_token_without_a_session(api, db, monkeypatch):
    google = FakeGoogle(install(monkeypatch))
    assert_token_only(api.post("/api/social/google/token", {"id_token": google.id_token(GRACE)}, format="json"))


def test_it_leaves_a_portal_session_that_calls_the_api_alone(client, user):
    client.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value

    data = {"email": "alice", "password": DEFAULT_PASSWORD}
    response = client.post("/api/login", data, content_type="application/json")

    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in response.cookies  # neither replaced nor deleted
    assert list(Session.objects.values_list("session_key", flat=True)) == [session_key]
    assert client.get("/accounts/email/").status_code == 200  # still signed in to the portal
    assert login(APIClient())["token"]


def test_it_changes_the_password_without_a_session(api, user):
    tokens = login(api)
    response = bearer(APIClient(), tokens["token"]).post(
        "/api/change-password",
        {"old_password": DEFAULT_PASSWORD, "new_password": "another-long-unusual-passphrase-77"},
        format="json",
    )
    assert response.status_code == 200
    assert_token_only(response)
    assert bearer(APIClient(), tokens["token"]).get("/api/me").status_code == 200
