"""Reauthentication (allauth's) before each sensitive change: changing the primary address, the
password, removing a factor, new recovery codes, deactivation, connecting a provider. Each is
asked for, blocks the change until given, and the change goes through after it."""

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.urls import reverse

from tests.accounts.test_social import GRACE, FakeGitHub, come_back_from, transport  # noqa: F401
from tests.factories import DEFAULT_PASSWORD
from tests.mfa_helpers import enrol_totp, mark_reauthenticated, recovery_codes, sign_in_with_second_factor, totp_code

pytestmark = pytest.mark.django_db
REAUTHENTICATE = "/accounts/reauthenticate/"


@pytest.fixture
def member(client, user):
    client.force_login(user)
    return client


def asks_to_reauthenticate(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(REAUTHENTICATE)


def test_changing_the_primary_address(member, user):
    EmailAddress.objects.create(user=user, email="alice.work@example.com", verified=True)
    form = {"action_primary": "", "email": "alice.work@example.com"}
    assert asks_to_reauthenticate(member.post("/accounts/email/", form))
    assert EmailAddress.objects.get_primary(user).email == "alice@example.com"
    mark_reauthenticated(member, user)
    member.post("/accounts/email/", form)
    assert EmailAddress.objects.get_primary(user).email == "alice.work@example.com"


def test_changing_the_password(member, user):
    assert asks_to_reauthenticate(member.get("/accounts/password/change/"))
    form = {"oldpassword": DEFAULT_PASSWORD, "password1": "a-new-long-passphrase", "password2": "a-new-long-passphrase"}
    assert asks_to_reauthenticate(member.post("/accounts/password/change/", form))
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    # The password prompt resumes the change it interrupted.
    response = member.post(f"{REAUTHENTICATE}?next=/accounts/password/change/", {"password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert member.get("/accounts/password/change/").status_code == 200
    member.post("/accounts/password/change/", form)
    user.refresh_from_db()
    assert user.check_password("a-new-long-passphrase")


def test_removing_a_factor_and_a_code_reauthenticates_too(member, user):
    secret = enrol_totp(user)
    sign_in_with_second_factor(member, user)
    assert asks_to_reauthenticate(member.post("/accounts/2fa/totp/deactivate/"))
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    # Someone with a factor may confirm with it instead of the password.
    response = member.post("/accounts/2fa/reauthenticate/", {"code": totp_code(secret)})
    assert response.status_code == 302
    assert member.post("/accounts/2fa/totp/deactivate/").status_code == 302
    assert not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def test_making_new_recovery_codes(member, user):
    enrol_totp(user)
    sign_in_with_second_factor(member, user)
    old = recovery_codes(user)
    assert asks_to_reauthenticate(member.get("/accounts/2fa/recovery-codes/generate/"))
    assert asks_to_reauthenticate(member.post("/accounts/2fa/recovery-codes/generate/"))
    assert recovery_codes(user) == old
    mark_reauthenticated(member, user)
    assert member.post("/accounts/2fa/recovery-codes/generate/").status_code == 302
    assert recovery_codes(user) != old


def test_deactivating_the_account(member, user):
    assert asks_to_reauthenticate(member.get("/accounts/deactivate/"))
    assert asks_to_reauthenticate(member.post("/accounts/deactivate/", {"confirm": "on"}))
    user.refresh_from_db()
    assert user.is_active
    mark_reauthenticated(member, user)
    assert member.get("/accounts/deactivate/").status_code == 200


def test_connecting_a_provider(member, user, transport):  # noqa: F811
    github = FakeGitHub(transport)
    github.answer_as(GRACE)
    state = start_sign_in_to_connect(member, github)
    response = come_back_from(member, github, code="code-from-provider", state=state)
    # allauth keeps the provider's answer and asks first; nothing is connected yet.
    assert asks_to_reauthenticate(response)
    assert not SocialAccount.objects.filter(user=user).exists()
    response = member.post(REAUTHENTICATE, {"password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert SocialAccount.objects.filter(user=user, provider="github").exists()


def start_sign_in_to_connect(client, provider) -> str:
    from urllib.parse import parse_qs, urlsplit

    response = client.post(reverse(f"{provider.id}_login"), {"process": "connect"})
    assert response.status_code == 302
    return parse_qs(urlsplit(response["Location"]).query)["state"][0]


def test_a_recent_reauthentication_is_not_asked_again(member, user):
    mark_reauthenticated(member, user)
    assert member.get("/accounts/password/change/").status_code == 200
    assert member.get("/accounts/deactivate/").status_code == 200
