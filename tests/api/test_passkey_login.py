"""WebAuthn over the API (issue 16): passkey sign-in for apps, and a security key as the second step.

The assertions are real: an ES256 key registered as an allauth Authenticator signs the challenge
the server handed out (tests/api/authenticators.py), and allauth's fido2 server checks them.
"""

import pytest
from allauth.mfa.models import Authenticator
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import LoginChallenge, TokenFamily
from tests.api.authenticators import SecurityKey, b64url, b64url_decode
from tests.api.conftest import bearer
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def passkey_options(api):
    response = api.post("/api/login/passkey/options", format="json")
    assert response.status_code == 200, response.content
    return response.json()


def passkey_login(api, token, credential):
    return api.post("/api/login/passkey", {"passkey_token": token, "credential": credential}, format="json")


def test_the_options_are_a_webauthn_challenge_for_any_passkey_with_user_verification(api):
    body = passkey_options(api)
    public_key = body["request_options"]["publicKey"]
    assert len(b64url_decode(public_key["challenge"])) >= 16
    assert public_key["rpId"] == "testserver"
    assert public_key["userVerification"] == "required"
    assert public_key.get("allowCredentials", []) == []
    assert body["expires_in"] == 300
    challenge = LoginChallenge.objects.get()
    assert (challenge.kind, challenge.user) == ("passkey", None)
    assert body["passkey_token"] not in challenge.token_hash


def test_a_passkey_signs_in_without_password_or_email_with_amr_webauthn(api, user):
    key = SecurityKey(user)
    options = passkey_options(api)

    response = passkey_login(api, options["passkey_token"], key.assertion(options["request_options"]))

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"token", "refresh_token", "type", "expires_in", "user"}
    assert body["user"]["username"] == "alice"
    assert AccessToken(body["token"])["amr"] == ["webauthn"]
    assert TokenFamily.objects.get().amr == ["webauthn"]
    assert Authenticator.objects.get(pk=key.authenticator.pk).last_used_at is not None


def test_a_passkey_token_is_spent_by_its_first_answer(api, user):
    key = SecurityKey(user)
    options = passkey_options(api)
    assertion = key.assertion(options["request_options"])
    assert passkey_login(api, options["passkey_token"], assertion).status_code == 200

    replay = passkey_login(api, options["passkey_token"], assertion)
    assert replay.status_code == 401
    assert replay.json()["detail"].startswith("This sign-in step is unknown or was already used")
    assert TokenFamily.objects.count() == 1


def test_a_wrong_signature_is_refused_and_spends_the_challenge(api, user):
    key = SecurityKey(user)
    options = passkey_options(api)
    assertion = key.assertion(options["request_options"])
    signature = bytearray(b64url_decode(assertion["response"]["signature"]))
    signature[-1] ^= 1
    assertion["response"]["signature"] = b64url(bytes(signature))

    refused = passkey_login(api, options["passkey_token"], assertion)
    assert refused.status_code == 401
    assert refused.json() == {"detail": "The passkey was not accepted."}
    good = key.assertion(options["request_options"])
    assert passkey_login(api, options["passkey_token"], good).status_code == 401, "one challenge, one answer"
    assert not TokenFamily.objects.exists()


def test_an_assertion_for_another_challenge_or_origin_is_refused(api, user):
    key = SecurityKey(user)
    first, second = passkey_options(api), passkey_options(api)
    other_challenge = passkey_login(api, second["passkey_token"], key.assertion(first["request_options"]))
    assert other_challenge.status_code == 401
    third = passkey_options(api)
    phished = key.assertion(third["request_options"], origin="https://evil.example")
    assert passkey_login(api, third["passkey_token"], phished).status_code == 401
    assert not TokenFamily.objects.exists()


def test_a_passkey_without_user_verification_is_refused(api, user):
    key = SecurityKey(user)
    options = passkey_options(api)
    unverified = key.assertion(options["request_options"], user_verified=False)
    response = passkey_login(api, options["passkey_token"], unverified)
    assert response.status_code == 401


def test_a_key_that_is_not_registered_is_refused(api, user):
    key = SecurityKey(user)
    options = passkey_options(api)
    assertion = key.assertion(options["request_options"])
    key.authenticator.delete()
    assert passkey_login(api, options["passkey_token"], assertion).status_code == 401


def test_a_deactivated_user_cannot_sign_in_with_a_passkey(api, user):
    key = SecurityKey(user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    options = passkey_options(api)
    response = passkey_login(api, options["passkey_token"], key.assertion(options["request_options"]))
    assert response.status_code == 403
    assert response.json() == {"detail": "User is disabled"}


@override_settings(MFA_RATE_LIMITS={"webauthn_login": "2/m/ip"})
def test_passkey_sign_ins_are_rate_limited_per_ip_by_allauths_limit(api, user):
    key = SecurityKey(user)
    for _ in range(2):
        options = passkey_options(api)
        assertion = key.assertion(options["request_options"])
        assert passkey_login(api, options["passkey_token"], assertion).status_code == 200
    options = passkey_options(api)
    limited = passkey_login(api, options["passkey_token"], key.assertion(options["request_options"]))
    assert limited.status_code == 429
    assert limited["Retry-After"] == "60"


@pytest.mark.parametrize(
    "credential",
    [
        "not an object",
        {},
        {"id": "x", "rawId": "x", "type": "public-key", "response": "nope"},
        {"id": "x", "rawId": "x", "type": "password", "response": {}},
    ],
)
def test_a_malformed_credential_is_422(api, credential):
    options = passkey_options(api)
    response = passkey_login(api, options["passkey_token"], credential)
    assert response.status_code == 422
    assert "credential" in response.json()["errors"]


def test_garbage_inside_a_well_formed_credential_is_401_not_500(api, user):
    options = passkey_options(api)
    garbage = {
        "id": "!!",
        "rawId": "@@",
        "type": "public-key",
        "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA", "userHandle": "%%"},
    }
    assert passkey_login(api, options["passkey_token"], garbage).status_code == 401


def test_a_staff_passkey_login_may_write_plans(staff, fake_stripe_settings):
    api = APIClient()
    key = SecurityKey(staff)
    options = passkey_options(api)
    tokens = passkey_login(api, options["passkey_token"], key.assertion(options["request_options"])).json()
    plan = {"name": "Team", "code": "team", "tier": "business", "price_cents": 500, "features": []}
    assert bearer(APIClient(), tokens["token"]).post("/api/billing/plans", plan, format="json").status_code == 201


@override_settings(MFA_PASSKEY_LOGIN_ENABLED=False)
def test_passkey_sign_in_is_404_when_the_server_turned_it_off(api, user):
    disabled = {"detail": "Passkey sign-in is not enabled on this server."}
    options = api.post("/api/login/passkey/options", format="json")
    assert (options.status_code, options.json()) == (404, disabled)
    credential = SecurityKey(user).assertion({"publicKey": {"challenge": b64url(b"c" * 32)}})
    login = passkey_login(api, "any", credential)
    assert (login.status_code, login.json()) == (404, disabled)
    assert not LoginChallenge.objects.exists()


# --- A security key as the second step after a password ------------------------------------------


def test_a_password_login_with_a_security_key_finishes_with_its_assertion(api, user):
    key = SecurityKey(user, passkey=False)
    first = api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json")
    assert first.status_code == 401
    assert first.json()["methods"] == ["webauthn"]
    token = first.json()["mfa_token"]

    options = api.post("/api/login/mfa/webauthn", {"mfa_token": token}, format="json")
    assert options.status_code == 200, options.content
    public_key = options.json()["request_options"]["publicKey"]
    assert [c["id"] for c in public_key["allowCredentials"]] == [b64url(key.credential_id)]

    credential = key.assertion(options.json()["request_options"])
    response = api.post("/api/login/mfa", {"mfa_token": token, "credential": credential}, format="json")
    assert response.status_code == 200, response.content
    assert AccessToken(response.json()["token"])["amr"] == ["pwd", "webauthn"]


def test_a_security_key_answer_without_options_first_is_refused(api, user):
    key = SecurityKey(user, passkey=False)
    token = api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json").json()["mfa_token"]
    stale = key.assertion({"publicKey": {"challenge": b64url(b"x" * 32)}})
    response = api.post("/api/login/mfa", {"mfa_token": token, "credential": stale}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "The security key's answer was not accepted."}


def test_webauthn_options_for_an_account_with_only_an_authenticator_app_are_400(api, user):
    from tests.api.authenticators import enable_totp

    enable_totp(user)
    token = api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json").json()["mfa_token"]
    response = api.post("/api/login/mfa/webauthn", {"mfa_token": token}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "This account has no security key or passkey; use a code."}
