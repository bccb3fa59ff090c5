"""Google and GitHub sign-ins of accounts with a second factor (issue 16): the app gets tokens only
after the second factor, asked in the browser by allauth (web flow) or by the API (ID token)."""

import pytest
from allauth.socialaccount.models import SocialAccount
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Provider, SocialHandoff, TokenFamily
from accounts.services import create_social_handoff
from tests.api.authenticators import enable_totp, totp_code
from tests.api.test_social_api import COMPLETE_URL, EXCHANGE_URL, handoff_code, post_id_token, start_ok
from tests.factories import UserFactory
from tests.social_fakes import GRACE, FakeGitHub, FakeGoogle, install

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def transport(monkeypatch):
    return install(monkeypatch)


@pytest.fixture
def google(transport):
    return FakeGoogle(transport)


@pytest.fixture
def github(transport):
    return FakeGitHub(transport)


def second_step(api, first, code):
    return api.post("/api/login/mfa", {"mfa_token": first.json()["mfa_token"], "code": code}, format="json")


@pytest.fixture
def grace():
    """Grace signs in with GitHub or Google, and has an authenticator app."""
    grace = UserFactory(username="grace", email=GRACE.email, provider=Provider.GITHUB)
    grace.set_unusable_password()
    grace.save()
    SocialAccount.objects.create(user=grace, provider="github", uid=GRACE.uid)
    SocialAccount.objects.create(user=grace, provider="google", uid=GRACE.uid)
    return grace


def test_the_web_flow_hands_over_only_after_allauths_second_factor_and_says_so_in_amr(api, github, grace):
    secret = enable_totp(grace)
    state = start_ok(api, github)
    github.answer_token_exchange_as(GRACE)
    callback = api.get("/accounts/github/login/callback/", {"code": "code-from-provider", "state": state})
    assert callback.status_code == 302
    assert callback["Location"] == "/accounts/2fa/authenticate/", "allauth asks for the second factor first"
    assert not SocialHandoff.objects.exists()

    authenticated = api.post(callback["Location"], {"code": totp_code(secret)})
    assert authenticated.status_code == 302, authenticated.content
    # "Trust this browser?" (MFA_TRUST_ENABLED) is the last step of allauth's sign-in.
    assert authenticated["Location"] == "/accounts/2fa/trust/"
    assert not SocialHandoff.objects.exists()
    authenticated = api.post(authenticated["Location"], {"action": "no"})
    assert authenticated["Location"] == COMPLETE_URL
    code = handoff_code(api.get(COMPLETE_URL))
    assert SocialHandoff.objects.get().amr == ["fed", "otp"]

    exchanged = api.post(EXCHANGE_URL, {"code": code}, format="json")
    assert exchanged.status_code == 200, exchanged.content
    assert AccessToken(exchanged.json()["token"])["amr"] == ["fed", "otp"]


def test_a_handoff_without_the_second_factor_answers_mfa_required(api, grace):
    secret = enable_totp(grace)
    code = create_social_handoff(user=grace)  # e.g. the factor was added while the browser was at GitHub

    first = api.post(EXCHANGE_URL, {"code": code}, format="json")
    assert first.status_code == 401
    assert first.json()["detail"] == "mfa_required"
    assert not TokenFamily.objects.exists()
    done = second_step(api, first, totp_code(secret))
    assert AccessToken(done.json()["token"])["amr"] == ["fed", "otp"]


def test_a_handoff_of_a_user_without_a_factor_is_unchanged(api, grace):
    exchanged = api.post(EXCHANGE_URL, {"code": create_social_handoff(user=grace)}, format="json")
    assert exchanged.status_code == 200
    assert AccessToken(exchanged.json()["token"])["amr"] == ["fed"]


def test_a_google_id_token_of_a_user_with_a_factor_answers_mfa_required(api, google, grace):
    secret = enable_totp(grace)
    first = post_id_token(api, google.id_token(GRACE))
    assert first.status_code == 401
    assert first.json()["methods"] == ["totp", "recovery_codes"]
    done = second_step(api, first, totp_code(secret))
    assert done.status_code == 200
    assert AccessToken(done.json()["token"])["amr"] == ["fed", "otp"]
