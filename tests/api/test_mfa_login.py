"""The API's sign-in for accounts with a second factor (issue 16): mfa_required, POST /api/login/mfa,
the amr claim, and staff writes that need a login made with a second factor."""

from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import LoginChallenge, TokenFamily
from tests.accounts.mail import code_in, last_mail_to
from tests.api.authenticators import enable_totp, recovery_codes, totp_code
from tests.api.conftest import bearer, login, login_with_second_factor
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret(user):
    return enable_totp(user)


def password_step(api, login_name="alice", password=DEFAULT_PASSWORD):
    return api.post("/api/login", {"email": login_name, "password": password}, format="json")


def mfa_token(api, login_name="alice"):
    response = password_step(api, login_name)
    assert response.status_code == 401, response.content
    return response.json()["mfa_token"]


def second_step(api, token, code):
    return api.post("/api/login/mfa", {"mfa_token": token, "code": code}, format="json")


def amr_of(access_token: str):
    return AccessToken(access_token).get("amr")


def test_a_user_without_a_second_factor_gets_the_token_pair_as_before(api, user):
    response = password_step(api)
    assert response.status_code == 200
    assert set(response.json()) == {"token", "refresh_token", "type", "expires_in", "user"}
    assert amr_of(response.json()["token"]) == ["pwd"]
    assert not LoginChallenge.objects.exists()


def test_a_password_login_with_a_second_factor_answers_mfa_required_and_issues_no_token(api, secret):
    response = password_step(api)

    assert response.status_code == 401
    body = response.json()
    assert body["detail"] == "mfa_required"
    assert body["methods"] == ["totp", "recovery_codes"]
    assert body["expires_in"] == settings.API_MFA_TOKEN_TIMEOUT
    assert len(body["mfa_token"]) >= 40
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert settings.REFRESH_COOKIE_NAME not in response.cookies
    assert not TokenFamily.objects.exists()
    challenge = LoginChallenge.objects.get()
    assert body["mfa_token"] not in challenge.token_hash, "only a hash of the token is stored"


def test_a_wrong_password_is_still_invalid_credentials_with_no_mfa_token(api, secret):
    response = password_step(api, password="not-the-password")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid email or password"}


def test_the_right_authenticator_code_issues_the_token_pair_with_amr_pwd_otp(api, user, secret):
    response = second_step(api, mfa_token(api), totp_code(secret))

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"token", "refresh_token", "type", "expires_in", "user"}
    assert body["user"]["email"] == "alice@example.com"
    assert response.cookies[settings.REFRESH_COOKIE_NAME].value == body["refresh_token"]
    assert amr_of(body["token"]) == ["pwd", "otp"]
    assert TokenFamily.objects.get().amr == ["pwd", "otp"]
    assert Authenticator.objects.get(user=user, type="totp").last_used_at is not None
    assert bearer(APIClient(), body["token"]).get("/api/me").status_code == 200


def test_a_wrong_code_is_401_and_the_token_still_takes_the_right_one(api, secret):
    token = mfa_token(api)
    wrong = second_step(api, token, "000000" if totp_code(secret) != "000000" else "111111")
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Incorrect code."}
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert second_step(api, token, totp_code(secret)).status_code == 200


def test_an_authenticator_code_is_accepted_once(api, secret):
    code = totp_code(secret)
    assert second_step(api, mfa_token(api), code).status_code == 200
    again = second_step(api, mfa_token(api), code)
    assert again.status_code == 401
    assert again.json() == {"detail": "Incorrect code."}


def test_an_expired_mfa_token_is_refused(api, secret):
    token = mfa_token(api)
    LoginChallenge.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = second_step(api, token, totp_code(secret))
    assert response.status_code == 401
    assert response.json() == {"detail": "This sign-in step has expired. Sign in again."}
    assert not TokenFamily.objects.exists()


def test_a_replayed_mfa_token_is_refused(api, user, secret):
    token = mfa_token(api)
    assert second_step(api, token, totp_code(secret)).status_code == 200
    replay = second_step(api, token, recovery_codes(user)[0])
    assert replay.status_code == 401
    assert replay.json() == {"detail": "This sign-in step is unknown or was already used. Sign in again."}
    assert TokenFamily.objects.count() == 1
    assert recovery_codes(user)[0] in _unused_recovery_codes(user), "the refused try spent no recovery code"


def test_an_unknown_mfa_token_is_refused(api, secret):
    response = second_step(api, "made-up", totp_code(secret))
    assert response.status_code == 401
    assert response.json()["detail"].startswith("This sign-in step is unknown")


def _unused_recovery_codes(user):
    return Authenticator.objects.get(user=user, type="recovery_codes").wrap().get_unused_codes()


def test_a_recovery_code_signs_in_once(api, user, secret):
    code = recovery_codes(user)[3]
    response = second_step(api, mfa_token(api), code)
    assert response.status_code == 200, response.content
    assert amr_of(response.json()["token"]) == ["pwd", "recovery_code"]
    assert code not in _unused_recovery_codes(user)
    assert len(_unused_recovery_codes(user)) == 9

    again = second_step(api, mfa_token(api), code)
    assert again.status_code == 401
    assert again.json() == {"detail": "Incorrect code."}


def test_recovery_codes_leave_the_methods_when_all_are_used(api, user, secret):
    for code in recovery_codes(user):
        assert second_step(api, mfa_token(api), code).status_code == 200
    assert password_step(api).json()["methods"] == ["totp"]


@override_settings(API_MFA_TOKEN_MAX_ATTEMPTS=3)
def test_an_mfa_token_dies_after_the_configured_wrong_codes(api, secret):
    token = mfa_token(api)
    answers = [second_step(api, token, "99999999").json()["detail"] for _ in range(3)]
    assert answers[:2] == ["Incorrect code.", "Incorrect code."]
    assert answers[2] == "Incorrect code. Too many wrong answers for this sign-in: sign in again."
    dead = second_step(api, token, totp_code(secret))
    assert dead.status_code == 401
    assert dead.json()["detail"].startswith("This sign-in step is unknown or was already used")


def test_wrong_codes_lock_the_account_out_as_wrong_passwords_do(api, user, secret):
    """allauth's `login_failed` limit (RATE_LIMIT_LOGIN_FAILED, 5 per 5 minutes per account) counts
    wrong second-factor codes too: after five, even the right code is refused for a while."""
    for _ in range(5):
        assert second_step(api, mfa_token(api), "99999999").status_code == 401

    locked = second_step(api, mfa_token(api), totp_code(secret))

    assert locked.status_code == 429
    assert locked.json() == {"detail": "Too many failed login attempts. Try again later."}
    assert 1 <= int(locked["Retry-After"]) <= 300
    assert not TokenFamily.objects.exists()


def test_the_emailed_code_login_also_asks_for_the_second_factor(api, committing, user, secret):
    with committing():
        assert api.post("/api/request/login-code", {"email": "alice@example.com"}, format="json").status_code == 200
    code = code_in(last_mail_to("alice@example.com"))
    first = api.post("/api/login/code", {"email": "alice@example.com", "code": code}, format="json")
    assert first.status_code == 401
    assert first.json()["detail"] == "mfa_required"

    response = second_step(api, first.json()["mfa_token"], totp_code(secret))
    assert response.status_code == 200
    assert amr_of(response.json()["token"]) == ["email", "otp"]


def test_a_user_deactivated_between_the_steps_gets_no_tokens(api, user, secret):
    token = mfa_token(api)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    response = second_step(api, token, totp_code(secret))
    assert response.status_code == 403
    assert response.json() == {"detail": "User is disabled"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "mfa_token"),
        ({"mfa_token": "t"}, "code"),
        ({"mfa_token": "t", "code": "123456", "credential": {}}, "credential"),
        ({"mfa_token": ["t"], "code": "123456"}, "mfa_token"),
        ({"mfa_token": "t", "credential": {"id": "x", "type": "public-key"}}, "credential"),
    ],
)
def test_a_bad_body_is_422_with_the_field_named(api, body, field):
    response = api.post("/api/login/mfa", body, format="json")
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_the_amr_claim_survives_refreshes(api, secret):
    tokens = second_step(api, mfa_token(api), totp_code(secret)).json()
    for _ in range(2):
        refreshed = api.post("/api/refresh-token", {"refresh_token": tokens["refresh_token"]}, format="json")
        assert refreshed.status_code == 200, refreshed.content
        tokens = refreshed.json()
        assert amr_of(tokens["token"]) == ["pwd", "otp"]
        assert AccessToken(tokens["refresh_token"], verify=False).get("amr") == ["pwd", "otp"]


def test_a_refresh_raced_within_the_grace_gets_the_same_successor_with_its_amr(api, secret):
    first = second_step(api, mfa_token(api), totp_code(secret)).json()["refresh_token"]
    one = api.post("/api/refresh-token", {"refresh_token": first}, format="json").json()
    two = api.post("/api/refresh-token", {"refresh_token": first}, format="json").json()
    assert one["refresh_token"] == two["refresh_token"]
    assert amr_of(two["token"]) == ["pwd", "otp"]


# --- Staff writes need a login made with a second factor -----------------------------------------

PLAN = {"name": "Team", "code": "team-yearly", "tier": "business", "price_cents": 50000, "billing_period": "year"}
REFUSAL = (
    "Staff changes need a sign-in with a second factor: sign in again with your authenticator code, "
    "a recovery code or a passkey (set one up in your account's security settings first)."
)


def test_a_staff_login_without_a_second_factor_cannot_write_plans(staff, fake_stripe_settings):
    from billing.models import Plan

    Authenticator.objects.filter(user=staff).delete()  # a staff member who has not enrolled yet
    staff_api = bearer(APIClient(), login(APIClient(), "staffer")["token"])
    plan = Plan.objects.get(code="pro-monthly")
    before = (Plan.objects.count(), plan.price_cents, plan.is_active)

    for response in (
        staff_api.post("/api/billing/plans", PLAN, format="json"),
        staff_api.patch(f"/api/billing/plans/{plan.pk}", {"price_cents": 1}, format="json"),
        staff_api.delete(f"/api/billing/plans/{plan.pk}"),
    ):
        assert response.status_code == 403
        assert response.json() == {"detail": REFUSAL}
    plan.refresh_from_db()
    assert (Plan.objects.count(), plan.price_cents, plan.is_active) == before
    assert not fake_stripe_settings.calls("POST"), "nothing reached Stripe"


def test_a_staff_login_with_a_second_factor_writes_plans(staff, fake_stripe_settings):
    from billing.models import Plan

    tokens = login_with_second_factor(APIClient(), "staffer", code=totp_code(enable_totp(staff)))
    staff_api = bearer(APIClient(), tokens["token"])

    assert staff_api.post("/api/billing/plans", PLAN, format="json").status_code == 201
    plan = Plan.objects.get(code="team-yearly")
    assert staff_api.patch(f"/api/billing/plans/{plan.pk}", {"name": "Teams"}, format="json").status_code == 200
    assert staff_api.delete(f"/api/billing/plans/{plan.pk}").status_code == 204


def test_a_token_minted_before_the_amr_claim_counts_as_no_second_factor(staff):
    from accounts import tokens

    enable_totp(staff)
    old_style = tokens.start_login(staff)  # a family from before this change: no amr
    response = bearer(APIClient(), old_style.access).post("/api/billing/plans", PLAN, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": REFUSAL}


def test_members_still_hear_staff_only(api, user):
    member = bearer(APIClient(), login(APIClient())["token"])
    assert member.post("/api/billing/plans", PLAN, format="json").json() == {"detail": "Staff only."}
