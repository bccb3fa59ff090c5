"""Verification, password reset/change and code login over the API, with the portal's mails."""

import time
from unittest import mock

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.core import mail
from django.core.cache import cache

from accounts.models import LoginCode
from tests.accounts.mail import code_in, last_mail_to, link_in
from tests.api.conftest import bearer, login
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-unusual-passphrase-77"


def key_for(user):
    return EmailConfirmationHMAC(EmailAddress.objects.get(user=user)).key


def test_verify_marks_the_address_verified_then_says_already(api, unverified_user):
    key = key_for(unverified_user)
    first = api.get("/api/verify", {"token": key})
    assert first.status_code == 202
    assert first.json() == {"message": "Email is Verified"}
    assert EmailAddress.objects.get(user=unverified_user).verified
    again = api.get("/api/verify", {"token": key})
    assert again.json() == {"message": "Email is already Verified"}


@pytest.mark.parametrize("token", ["", "garbage", "MQ:1xVlPa:forged-signature"])
def test_verify_with_a_bad_key_is_401(api, unverified_user, token):
    response = api.get("/api/verify", {"token": token} if token else {})
    assert response.status_code == 401
    assert "invalid or has expired" in response.json()["detail"]
    assert not EmailAddress.objects.get(user=unverified_user).verified


def test_verify_with_an_expired_key_is_401(api, unverified_user):
    with mock.patch("django.core.signing.time.time", return_value=1_000_000_000):
        key = key_for(unverified_user)
    assert api.get("/api/verify", {"token": key}).status_code == 401


def test_request_verify_resends_then_rate_limits(api, committing, unverified_user):
    tokens = login(api, "newbie")
    bearer(api, tokens["token"])
    with committing():
        response = api.post("/api/request/verify")
    assert response.status_code == 202
    assert link_in(last_mail_to("newbie@example.com"), "/accounts/confirm-email/")
    again = api.post("/api/request/verify")
    assert again.status_code == 429
    assert int(again["Retry-After"]) > 0


def test_request_verify_needs_a_token(api, db):
    assert api.post("/api/request/verify").status_code == 401


def test_forget_password_answers_the_same_for_known_and_unknown_addresses(api, committing, user):
    with committing():
        known = api.post("/api/forget-password", {"email": "alice@example.com"}, format="json")
        unknown = api.post("/api/forget-password", {"email": "nobody@example.com"}, format="json")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert len(mail.outbox) == 2
    assert link_in(last_mail_to("alice@example.com"), "/accounts/password/reset/key/")
    assert "/accounts/password/reset/key/" not in last_mail_to("nobody@example.com").body


def test_forget_password_with_a_bad_address_is_422(api, db):
    response = api.post("/api/forget-password", {"email": "nope"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": {"email": "Enter a valid email address."}}


def reset_token(api, committing) -> str:
    with committing():
        api.post("/api/forget-password", {"email": "alice@example.com"}, format="json")
    link = link_in(last_mail_to("alice@example.com"), "/accounts/password/reset/key/")
    return link.rstrip("/").rsplit("/", 1)[-1]


def test_new_password_with_the_mailed_token_resets_and_revokes_every_login(api, committing, user):
    tokens = login(api)
    token = reset_token(api, committing)
    response = api.post("/api/new-password", {"token": token, "password": NEW_PASSWORD}, format="json")
    assert response.status_code == 202
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert api.post("/api/refresh-token", {"refresh_token": tokens["refresh_token"]}, format="json").status_code == 401
    # The token works once.
    again = api.post("/api/new-password", {"token": token, "password": NEW_PASSWORD + "x"}, format="json")
    assert again.status_code == 401


def test_new_password_refuses_a_weak_password_with_422(api, committing, user):
    token = reset_token(api, committing)
    response = api.post("/api/new-password", {"token": token, "password": "short"}, format="json")
    assert response.status_code == 422
    assert "password" in response.json()["errors"]
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize("token", ["1-bad", "zz-zz", "nonsense", "99999-abc"])
def test_new_password_with_a_bad_token_is_401(api, user, token):
    response = api.post("/api/new-password", {"token": token, "password": NEW_PASSWORD}, format="json")
    assert response.status_code == 401


def test_change_password_needs_the_old_one(api, user):
    bearer(api, login(api)["token"])
    response = api.post("/api/change-password", {"old_password": "nope", "new_password": NEW_PASSWORD}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Old password isn't correct."}


def test_change_password_refuses_a_weak_one_with_422(api, user):
    bearer(api, login(api)["token"])
    response = api.post(
        "/api/change-password", {"old_password": DEFAULT_PASSWORD, "new_password": "123"}, format="json"
    )
    assert response.status_code == 422
    assert "new_password" in response.json()["errors"]


def test_change_password_is_an_a_route(api, unverified_user):
    bearer(api, login(api, "newbie")["token"])
    response = api.post(
        "/api/change-password", {"old_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "Email address is not verified."}


def request_code(api, committing, email="alice@example.com"):
    with committing():
        return api.post("/api/request/login-code", {"email": email}, format="json")


def test_login_code_mails_the_portals_code_and_signs_in_once(api, committing, user):
    response = request_code(api, committing)
    assert response.status_code == 200
    message = last_mail_to("alice@example.com")
    code = code_in(message)
    assert LoginCode.objects.get(user=user).code_hash != code, "only a hash is stored"
    signed_in = api.post("/api/login/code", {"email": "alice@example.com", "code": code}, format="json")
    assert signed_in.status_code == 200
    assert signed_in.json()["user"]["username"] == "alice"
    again = api.post("/api/login/code", {"email": "alice@example.com", "code": code}, format="json")
    assert again.status_code == 400
    assert again.json() == {"detail": "Invalid code or email."}


def test_login_code_for_an_unknown_address_answers_the_same(api, committing, db):
    response = request_code(api, committing, "nobody@example.com")
    assert response.status_code == 200
    assert response.json() == {"message": "If an account exists for this address, we have sent it a sign-in code."}
    assert len(mail.outbox) == 1


def test_three_wrong_codes_kill_the_code(api, committing, user):
    request_code(api, committing)
    code = code_in(last_mail_to("alice@example.com"))
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):
        assert (
            api.post("/api/login/code", {"email": "alice@example.com", "code": wrong}, format="json").status_code == 400
        )
    response = api.post("/api/login/code", {"email": "alice@example.com", "code": code}, format="json")
    assert response.status_code == 400


def test_an_expired_code_says_so(api, committing, user):
    request_code(api, committing)
    code = code_in(last_mail_to("alice@example.com"))
    later = time.time() + 301
    with mock.patch("django.utils.timezone.now") as now:
        from datetime import UTC, datetime

        now.return_value = datetime.fromtimestamp(later, tz=UTC)
        response = api.post("/api/login/code", {"email": "alice@example.com", "code": code}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Code has expired."}


def test_a_new_code_replaces_the_old_one(api, committing, user):
    request_code(api, committing)
    old = code_in(last_mail_to("alice@example.com"))
    cache.clear()
    request_code(api, committing)
    new = code_in(last_mail_to("alice@example.com"))
    if old != new:
        assert (
            api.post("/api/login/code", {"email": "alice@example.com", "code": old}, format="json").status_code == 400
        )
    assert api.post("/api/login/code", {"email": "alice@example.com", "code": new}, format="json").status_code == 200


def test_code_requests_share_the_portals_per_address_limit(api, committing, user):
    for _ in range(3):
        assert request_code(api, committing).status_code == 200
    response = request_code(api, committing)
    assert response.status_code == 429
    assert "Retry-After" in response


def test_a_deactivated_user_gets_no_code(api, committing, user):
    user.is_active = False
    user.save()
    request_code(api, committing)
    assert not LoginCode.objects.exists()
