"""The app's Google and GitHub sign-in (api-contract.md: /api/social/google/token, /api/{google,github}/login,
/api/social/exchange), fully offline.

Google's ID tokens are real RS256 JWTs signed by a key made in the test and published at the certs URL
allauth fetches; GitHub's and Google's web endpoints are faked at requests' transport (tests/social_fakes.py).
"""

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit, urlunsplit

import jwt
import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.core import mail
from django.utils import timezone

from accounts.models import Profile, Provider, SocialHandoff, TokenFamily, User
from tests.api.conftest import bearer
from tests.factories import UserFactory
from tests.social_fakes import GRACE, FakeGitHub, FakeGoogle, Person, install, signing_key

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/social/google/token"
EXCHANGE_URL = "/api/social/exchange"
COMPLETE_URL = "/api/social/complete"
APP_REDIRECT = "gatehouse://auth"
INVALID_ID_TOKEN = {"detail": "The Google ID token is not valid."}
INVALID_HANDOFF = {"detail": "The sign-in code is unknown, used or expired."}


@pytest.fixture(autouse=True)
def transport(monkeypatch):
    return install(monkeypatch)


@pytest.fixture
def google(transport):
    return FakeGoogle(transport)


@pytest.fixture
def github(transport):
    return FakeGitHub(transport)


@pytest.fixture(params=["google", "github"])
def provider(request):
    return request.getfixturevalue(request.param)


def post_id_token(api, id_token):
    return api.post(TOKEN_URL, {"id_token": id_token}, format="json")


def assert_token_response(response, user):
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"token", "refresh_token", "type", "expires_in", "user"}
    assert body["type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    assert body["user"]["id"] == user.pk
    assert response.cookies["refresh_token"].value == body["refresh_token"]
    assert response.cookies["refresh_token"]["httponly"]
    return body


def me(api, access_token):
    response = bearer(api, access_token).get("/api/me")
    api.credentials()
    return response


def grace_with_google(*, is_active=True):
    """Grace as a returning Google user: an account, its verified address and the Google link."""
    grace = UserFactory(username="grace", email=GRACE.email, provider=Provider.GOOGLE, is_active=is_active)
    grace.set_unusable_password()
    grace.save()
    SocialAccount.objects.create(user=grace, provider="google", uid=GRACE.uid)
    return grace


# --- POST /api/social/google/token ------------------------------------------------------------


def test_google_id_token_signs_up_a_new_verified_user_and_answers_the_token_response(api, google, transport):
    response = post_id_token(api, google.id_token(GRACE))

    user = User.objects.get()
    body = assert_token_response(response, user)
    assert body["user"] == {
        "id": user.pk,
        "email": "grace@example.org",
        "username": user.username,
        "provider": "google",
        "is_verified": True,
        "is_staff": False,
        "profile": {"first_name": "Grace", "last_name": "Hopper", "image_url": "https://avatars.example.com/grace.png"},
    }
    assert user.username
    assert user.provider == Provider.GOOGLE
    assert user.is_active
    assert not user.has_usable_password()
    assert Profile.objects.get().user == user
    account = SocialAccount.objects.get()
    assert (account.user, account.provider, account.uid) == (user, "google", GRACE.uid)
    address = EmailAddress.objects.get()
    assert (address.user, address.email, address.verified, address.primary) == (user, "grace@example.org", True, True)
    # The signature was checked against the certs endpoint; nothing else was asked of Google.
    assert [(r.method, r.url) for r in transport.requests] == [("GET", google.certs_url)]

    mine = me(api, body["token"])
    assert mine.status_code == 200
    assert mine.json() == body["user"]


def test_google_id_token_signs_a_returning_user_into_the_same_account(api, google):
    first = post_id_token(api, google.id_token(GRACE))
    grace = User.objects.get()
    assert_token_response(first, grace)

    renamed = Person(uid=GRACE.uid, email=GRACE.email, first_name="Amazing", last_name="Grace")
    second = post_id_token(api, google.id_token(renamed))

    body = assert_token_response(second, grace)
    assert body["token"] != first.json()["token"]
    assert (User.objects.count(), Profile.objects.count(), SocialAccount.objects.count()) == (1, 1, 1)
    assert EmailAddress.objects.count() == 1
    # Two separate API logins; the profile the user may have edited since is left alone.
    assert TokenFamily.objects.filter(user=grace).count() == 2
    assert body["user"]["profile"]["first_name"] == "Grace"
    assert me(api, first.json()["token"]).status_code == 200


def test_google_id_token_finds_a_returning_user_by_sub_even_under_a_new_address(api, google):
    grace = grace_with_google()

    response = post_id_token(api, google.id_token(Person(uid=GRACE.uid, email="grace@new-job.example")))

    assert_token_response(response, grace)
    assert User.objects.count() == 1
    grace.refresh_from_db()
    assert grace.email == GRACE.email


def _forged_with_another_key(google):
    return google.id_token(GRACE, key=signing_key("mallory"))  # same kid as Google's real key


def _tampered(google):
    header, payload, signature = google.id_token(GRACE).split(".")
    other_payload = google.id_token(Person(uid="666", email="mallory@example.org")).split(".")[1]
    assert other_payload != payload
    return f"{header}.{other_payload}.{signature}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _handmade(google, header, sign):
    """A token with exactly this header (PyJWT's encode would refuse some), signed by sign(bytes)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(google.claims(GRACE)).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def _hmac_signed_with_the_certificate(google, alg="HS256"):
    """The classic algorithm confusion: HMAC over the token with Google's public certificate as secret."""
    secret = google.key.certificate_pem.encode()
    return _handmade(
        google, {"alg": alg, "kid": google.kid, "typ": "JWT"}, lambda data: hmac.digest(secret, data, hashlib.sha256)
    )


def _kid_not_a_string(google):
    rs256 = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
    return _handmade(
        google, {"alg": "RS256", "kid": [google.kid], "typ": "JWT"}, lambda d: rs256.sign(d, google.key.private_key)
    )


def _without_kid(google):
    return jwt.encode(google.claims(GRACE), google.key.private_key, algorithm="RS256")


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(_forged_with_another_key, id="signed-by-another-key"),
        pytest.param(_tampered, id="payload-swapped-under-a-valid-signature"),
        pytest.param(lambda google: google.id_token(GRACE, aud="someone-elses-app"), id="another-audience"),
        pytest.param(lambda google: google.id_token(GRACE, aud=None), id="no-audience"),
        pytest.param(lambda google: google.id_token(GRACE, iss="https://evil.example"), id="another-issuer"),
        pytest.param(lambda google: google.id_token(GRACE, iss=None), id="no-issuer"),
        pytest.param(lambda google: google.id_token(GRACE, exp=int(timezone.now().timestamp()) - 60), id="expired"),
        pytest.param(lambda google: google.id_token(GRACE, kid="a-kid-google-never-published"), id="unknown-kid"),
        pytest.param(lambda google: "not-a-jwt", id="garbage"),
        # These reach allauth's decoder with a header it does not expect; they must be refusals, not 500s.
        pytest.param(_without_kid, id="header-without-kid"),
        pytest.param(_kid_not_a_string, id="kid-not-a-string"),
        pytest.param(_hmac_signed_with_the_certificate, id="alg-HS256-keyed-with-the-certificate"),
        pytest.param(lambda google: _hmac_signed_with_the_certificate(google, "ES256"), id="alg-ES256"),
        pytest.param(
            lambda google: jwt.encode(google.claims(GRACE), None, algorithm="none", headers={"kid": google.kid}),
            id="unsigned-alg-none",
        ),
    ],
)
def test_google_id_token_refuses_a_token_it_cannot_trust(api, google, make_token):
    response = post_id_token(api, make_token(google))

    assert response.status_code == 401
    assert response.json() == INVALID_ID_TOKEN
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "refresh_token" not in response.cookies
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()
    assert not TokenFamily.objects.exists()


def test_google_id_token_refuses_when_googles_certs_cannot_be_fetched(api, google, transport):
    transport.answer("GET", google.certs_url, status=503, json_body={"error": "unavailable"})

    response = post_id_token(api, google.id_token(GRACE))

    assert response.status_code == 401
    assert response.json() == INVALID_ID_TOKEN
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [({}, "This field is required."), ({"id_token": ""}, "This field may not be blank.")],
    ids=["missing", "blank"],
)
def test_google_id_token_is_required(api, google, transport, data, message):
    response = api.post(TOKEN_URL, data, format="json")

    assert response.status_code == 422
    assert response.json() == {"errors": {"id_token": message}}
    assert transport.requests == []


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@Example.COM"])
def test_google_id_token_with_the_address_of_a_local_account_is_a_conflict(api, google, user, email):
    before = (user.password, user.provider, user.email, list(EmailAddress.objects.values_list("email", "verified")))

    response = post_id_token(api, google.id_token(Person(uid="4096", email=email, first_name="Mallory")))

    assert response.status_code == 409
    assert response.json() == {
        "detail": "An account with this email address already exists. "
        "Sign in to it and connect Google from your account."
    }
    assert "refresh_token" not in response.cookies
    assert list(User.objects.all()) == [user]
    assert not SocialAccount.objects.exists()
    assert not TokenFamily.objects.exists()
    user.refresh_from_db()
    after = (user.password, user.provider, user.email, list(EmailAddress.objects.values_list("email", "verified")))
    assert after == before
    assert user.profile.first_name == ""


def test_google_id_token_of_a_deactivated_user_is_refused(api, google):
    grace_with_google(is_active=False)

    response = post_id_token(api, google.id_token(GRACE))

    assert response.status_code == 403
    assert response.json() == {"detail": "User is disabled"}
    assert "refresh_token" not in response.cookies
    assert not TokenFamily.objects.exists()
    assert User.objects.count() == 1


def test_google_id_token_with_an_unverified_address_signs_up_an_unverified_user_and_mails_the_link(
    api, google, committing
):
    # Google vouches for the account (sub), not for the address: the user is created and signed in
    # (an unverified user may log in and use the B routes), but the address stays unverified.
    unverified = Person(uid="2048", email="unverified@example.org", email_verified=False)

    with committing():
        response = post_id_token(api, google.id_token(unverified))

    user = User.objects.get()
    body = assert_token_response(response, user)
    assert body["user"]["email"] == "unverified@example.org"
    assert body["user"]["provider"] == "google"
    assert body["user"]["is_verified"] is False
    address = EmailAddress.objects.get()
    assert (address.user, address.email, address.verified) == (user, "unverified@example.org", False)
    assert SocialAccount.objects.get().user == user
    # The owner of the address is asked to confirm it, as in the browser flow.
    assert [message.to for message in mail.outbox] == [["unverified@example.org"]]
    assert "/accounts/confirm-email/" in mail.outbox[0].body
    # Until then a verified-only route says so.
    patched = bearer(api, body["token"]).patch("/api/me", {"first_name": "G"}, format="json")
    assert patched.status_code == 403
    assert patched.json() == {"detail": "Email address is not verified."}


# --- The web flow: /api/{google,github}/login → provider → allauth → /api/social/complete → app ---


def start(api, provider, next_url=APP_REDIRECT):
    return api.get(f"/api/{provider.id}/login", {"next": next_url})


def start_ok(api, provider):
    return start_ok_with(api, provider, APP_REDIRECT)


def start_ok_with(api, provider, next_url):
    response = start(api, provider, next_url)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert urlunsplit((location.scheme, location.netloc, location.path, "", "")) == provider.authorize_url
    query = parse_qs(location.query)
    assert query["client_id"] == [provider.client_id]
    assert query["redirect_uri"] == [f"http://testserver/accounts/{provider.id}/login/callback/"]
    assert query["response_type"] == ["code"]
    (state,) = query["state"]
    assert state
    return state


def test_web_flow_starts_at_the_provider_with_state(api, provider, transport):
    start_ok(api, provider)

    assert api.session["api_social_next"] == APP_REDIRECT
    assert transport.requests == []


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/cb",
        "javascript:alert(document.cookie)",
        "//evil.example/gatehouse://auth",
        "https://evil.example/?gatehouse://auth",
        "",
        None,
    ],
    ids=["other-site", "javascript", "protocol-relative", "prefix-in-query", "blank", "missing"],
)
def test_web_flow_refuses_a_next_that_is_not_an_allowed_app_redirect(api, provider, transport, next_url):
    params = {} if next_url is None else {"next": next_url}

    response = api.get(f"/api/{provider.id}/login", params)

    assert response.status_code == 400
    assert response.json() == {"detail": "The next URL is not an allowed app redirect URI."}
    assert "api_social_next" not in api.session
    assert transport.requests == []


def finish_at_provider(api, provider, person=GRACE):
    """Start for the app, come back from the provider, and follow allauth to the app's redirect."""
    state = start_ok(api, provider)
    provider.answer_token_exchange_as(person)
    callback = api.get(f"/accounts/{provider.id}/login/callback/", {"code": "code-from-provider", "state": state})
    assert callback.status_code == 302, callback.content
    assert callback["Location"] == COMPLETE_URL
    assert api.session.get("_auth_user_id"), "allauth signed the browser in"
    return api.get(callback["Location"])


def handoff_code(response):
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == APP_REDIRECT
    query = parse_qs(location.query)
    assert set(query) == {"code"}
    (code,) = query["code"]
    return code


def test_web_flow_hands_the_app_a_one_time_code_and_signs_the_browser_out(api, provider):
    response = finish_at_provider(api, provider)

    code = handoff_code(response)
    user = User.objects.get()
    assert user.provider == Provider(provider.id)
    assert SocialAccount.objects.get().user == user
    assert "_auth_user_id" not in api.session
    assert "api_social_next" not in api.session
    handoff = SocialHandoff.objects.get()
    assert handoff.user == user
    assert handoff.used_at is None
    assert code not in handoff.code_hash, "only a hash of the code is stored"
    timeout = handoff.expires_at - handoff.created_at
    assert timedelta(seconds=119) < timeout <= timedelta(seconds=121)
    # The flow is over: coming back to the completion URL starts nothing.
    assert api.get(COMPLETE_URL).status_code == 400

    exchanged = api.post(EXCHANGE_URL, {"code": code}, format="json")

    body = assert_token_response(exchanged, user)
    assert body["user"]["email"] == "grace@example.org"
    assert body["user"]["provider"] == provider.id
    assert body["user"]["is_verified"] is True
    handoff.refresh_from_db()
    assert handoff.used_at is not None
    assert me(api, body["token"]).json()["id"] == user.pk


def test_web_flow_keeps_the_query_of_the_apps_redirect_uri(api, github):
    state = start_ok_with(api, github, f"{APP_REDIRECT}?flavour=beta")
    github.answer_token_exchange_as(GRACE)
    callback = api.get("/accounts/github/login/callback/", {"code": "code-from-provider", "state": state})
    assert callback["Location"] == COMPLETE_URL

    response = api.get(COMPLETE_URL)

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == APP_REDIRECT
    query = parse_qs(location.query)
    assert query["flavour"] == ["beta"]
    (code,) = query["code"]
    assert api.post(EXCHANGE_URL, {"code": code}, format="json").status_code == 200


def test_web_flow_sends_the_app_an_error_when_nobody_signed_in(api, github, transport):
    start_ok(api, github)  # ...and the browser comes to the completion URL without the provider's callback

    response = api.get(COMPLETE_URL)

    assert response.status_code == 302
    assert response["Location"] == f"{APP_REDIRECT}?error=login_failed"
    assert not SocialHandoff.objects.exists()
    assert "api_social_next" not in api.session
    assert transport.requests == []


def test_web_flow_code_is_single_use(api, github):
    code = handoff_code(finish_at_provider(api, github))
    assert api.post(EXCHANGE_URL, {"code": code}, format="json").status_code == 200

    again = api.post(EXCHANGE_URL, {"code": code}, format="json")

    assert again.status_code == 401
    assert again.json() == INVALID_HANDOFF
    assert TokenFamily.objects.count() == 1


def test_web_flow_code_expires(api, github):
    code = handoff_code(finish_at_provider(api, github))
    SocialHandoff.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = api.post(EXCHANGE_URL, {"code": code}, format="json")

    assert response.status_code == 401
    assert response.json() == INVALID_HANDOFF
    assert not TokenFamily.objects.exists()


def test_web_flow_code_of_a_user_deactivated_in_between_is_refused(api, github):
    code = handoff_code(finish_at_provider(api, github))
    User.objects.update(is_active=False)

    response = api.post(EXCHANGE_URL, {"code": code}, format="json")

    assert response.status_code == 403
    assert response.json() == {"detail": "User is disabled"}
    assert not TokenFamily.objects.exists()
    # And the code is spent: reactivating the account does not revive it.
    User.objects.update(is_active=True)
    assert api.post(EXCHANGE_URL, {"code": code}, format="json").status_code == 401


@pytest.mark.parametrize(
    "code",
    ["an-unknown-code", "x" * 256],
    ids=["unknown", "long"],
)
def test_exchange_refuses_an_unknown_code(api, user, code):
    from accounts.services import create_social_handoff

    create_social_handoff(user=user)  # a live code exists, just not this one

    response = api.post(EXCHANGE_URL, {"code": code}, format="json")

    assert response.status_code == 401
    assert response.json() == INVALID_HANDOFF
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not TokenFamily.objects.exists()


def test_exchange_requires_a_code(api, db):
    response = api.post(EXCHANGE_URL, {}, format="json")

    assert response.status_code == 422
    assert response.json() == {"errors": {"code": "This field is required."}}


# --- GET /api/social/complete without a flow ------------------------------------------------


def test_complete_without_a_flow_in_progress_is_a_bad_request(api, db):
    response = api.get(COMPLETE_URL)

    assert response.status_code == 400
    assert response.json() == {"detail": "No app sign-in is in progress."}
    assert not SocialHandoff.objects.exists()


def test_complete_without_a_flow_does_not_hand_a_signed_in_browser_session_to_anyone(client, user):
    client.force_login(user)

    response = client.get(COMPLETE_URL)

    assert response.status_code == 400
    assert response.json() == {"detail": "No app sign-in is in progress."}
    assert not SocialHandoff.objects.exists()
    assert client.session["_auth_user_id"] == str(user.pk)
