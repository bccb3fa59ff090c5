"""Google and GitHub sign-in through allauth, fully offline.

The providers are faked at requests' transport (``HTTPAdapter.send``), one level below where
allauth's own suite patches (``requests.Session.request``, in ``allauth.tests``, which the
wheel does not ship): allauth's real client code runs, and gets real ``requests.Response``
objects back. Any request to a URL the test did not answer for fails loudly, and an autouse
guard refuses socket connections to anything but loopback, so nothing can reach the Internet.
"""

import socket
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

import jwt
import pytest
import requests
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.core import mail
from django.urls import reverse

from accounts.admin import UserCreationForm
from accounts.models import Profile, Provider, User
from tests.factories import UserFactory
from tests.social_fakes import UnexpectedRequest, install

pytestmark = pytest.mark.django_db


# --- The network: tests/social_fakes.py's fake transport, and its guard behind it ----------


@pytest.fixture(autouse=True)
def transport(monkeypatch):
    return install(monkeypatch)


# --- The providers ------------------------------------------------------------------------


@dataclass
class Person:
    """Someone as a provider knows them."""

    uid: str
    email: str | None
    first_name: str = "Grace"
    last_name: str = "Hopper"
    email_verified: bool = True
    avatar_url: str = "https://avatars.example.com/grace.png"


GRACE = Person(uid="1024", email="grace@example.org")


class FakeGoogle:
    id = "google"
    authorize_url = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url = "https://oauth2.googleapis.com/token"
    client_id = "test-google-id"

    def __init__(self, transport):
        self.transport = transport

    def id_token(self, person, **claims):
        """An OpenID Connect id_token as Google issues it. allauth checks issuer, audience and expiry;
        the signature is skipped because the token came straight from Google's token endpoint over TLS
        (OIDC Core 3.1.3.7), which is why allauth's own tests sign theirs with a dummy key too."""
        now = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "azp": self.client_id,
            "aud": self.client_id,
            "sub": person.uid,
            "email": person.email,
            "email_verified": person.email_verified,
            "name": f"{person.first_name} {person.last_name}",
            "given_name": person.first_name,
            "family_name": person.last_name,
            "picture": person.avatar_url,
            "iat": now,
            "exp": now + 3600,
            **claims,
        }
        return jwt.encode(payload, "not-googles-key-and-never-checked-here", algorithm="HS256")

    def answer_as(self, person, **claims):
        self.transport.answer(
            "POST",
            self.token_url,
            json_body={
                "access_token": "google-access-token",
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": "openid https://www.googleapis.com/auth/userinfo.email",
                "id_token": self.id_token(person, **claims),
            },
        )

    def fail_token_exchange(self):
        self.transport.answer("POST", self.token_url, status=400, json_body={"error": "invalid_grant"})

    def assert_code_was_exchanged(self, code):
        (token_request,) = self.transport.requests_to("POST", self.token_url)
        body = parse_qs(token_request.body)
        assert body["code"] == [code]
        assert body["client_id"] == [self.client_id]
        assert body["redirect_uri"] == ["http://testserver/accounts/google/login/callback/"]


class FakeGitHub:
    id = "github"
    authorize_url = "https://github.com/login/oauth/authorize"
    token_url = "https://github.com/login/oauth/access_token"
    user_url = "https://api.github.com/user"
    emails_url = "https://api.github.com/user/emails"
    client_id = "test-github-id"

    def __init__(self, transport):
        self.transport = transport

    def answer_as(self, person, *, public_email=True, emails=None):
        # Without an Accept header GitHub answers the token exchange form-encoded.
        self.transport.answer(
            "POST", self.token_url, form_body={"access_token": "github-access-token", "token_type": "bearer"}
        )
        self.transport.answer(
            "GET",
            self.user_url,
            json_body={
                "id": int(person.uid),
                "login": f"{person.first_name.lower()}-codes",
                "name": f"{person.first_name} {person.last_name}",
                "email": person.email if public_email else None,
                "avatar_url": person.avatar_url,
                "html_url": f"https://github.com/{person.first_name.lower()}-codes",
            },
        )
        if emails is None:
            emails = [{"email": person.email, "primary": True, "verified": person.email_verified, "visibility": None}]
        self.transport.answer("GET", self.emails_url, json_body=emails)

    def fail_token_exchange(self):
        self.transport.answer("POST", self.token_url, status=400, json_body={"error": "bad_verification_code"})

    def assert_code_was_exchanged(self, code):
        (token_request,) = self.transport.requests_to("POST", self.token_url)
        body = parse_qs(token_request.body)
        assert body["code"] == [code]
        assert body["client_id"] == [self.client_id]
        (profile_request,) = self.transport.requests_to("GET", self.user_url)
        assert profile_request.headers["Authorization"] == "token github-access-token"


@pytest.fixture
def google(transport):
    return FakeGoogle(transport)


@pytest.fixture
def github(transport):
    return FakeGitHub(transport)


@pytest.fixture(params=["google", "github"])
def provider(request):
    return request.getfixturevalue(request.param)


# --- Driving the flow ---------------------------------------------------------------------


def start_sign_in(client, provider):
    """POST the provider button (SOCIALACCOUNT_LOGIN_ON_GET is off); return the state it sent along."""
    response = client.post(reverse(f"{provider.id}_login"))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert urlunsplit((location.scheme, location.netloc, location.path, "", "")) == provider.authorize_url
    query = parse_qs(location.query)
    assert query["client_id"] == [provider.client_id]
    return query["state"][0]


def come_back_from(client, provider, **params):
    return client.get(reverse(f"{provider.id}_callback"), params)


def sign_in(client, provider, code="code-from-provider"):
    state = start_sign_in(client, provider)
    return come_back_from(client, provider, code=code, state=state)


def signed_in_user_id(client):
    return client.session.get("_auth_user_id")


@pytest.fixture(params=["signed-up", "created-in-admin"])
def alice(request, user):
    """The local alice@example.com: signed up and verified the address (an EmailAddress row), or
    created in the admin, whose add form only fills User.email."""
    if request.param == "signed-up":
        EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    else:
        EmailAddress.objects.filter(user=user).delete()
    return user


# --- A new user ---------------------------------------------------------------------------


def test_it_signs_up_a_new_user_with_what_the_provider_knows_and_signs_them_in(client, provider):
    provider.answer_as(GRACE)

    response = sign_in(client, provider, code="one-time-code")

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts_profile")
    provider.assert_code_was_exchanged("one-time-code")
    user = User.objects.get()
    assert signed_in_user_id(client) == str(user.pk)
    assert client.get(reverse("accounts_profile")).status_code == 200
    assert user.provider == Provider(provider.id)
    assert user.email == "grace@example.org"
    assert not user.has_usable_password()
    address = EmailAddress.objects.get()
    assert (address.user, address.email, address.verified, address.primary) == (user, "grace@example.org", True, True)
    profile = Profile.objects.get()
    assert profile.user == user
    assert (profile.first_name, profile.last_name) == ("Grace", "Hopper")
    assert profile.image_url == "https://avatars.example.com/grace.png"
    account = SocialAccount.objects.get()
    assert (account.user, account.provider, account.uid) == (user, provider.id, "1024")
    assert not SocialToken.objects.exists(), "SOCIALACCOUNT_STORE_TOKENS is off: provider tokens are not kept"


def test_it_does_not_trust_an_address_google_has_not_verified(client, google, django_capture_on_commit_callbacks):
    google.answer_as(Person(uid="2048", email="unverified@example.org", email_verified=False))

    with django_capture_on_commit_callbacks(execute=True):
        response = sign_in(client, google)

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert signed_in_user_id(client) is None
    address = EmailAddress.objects.get()
    assert (address.email, address.verified) == ("unverified@example.org", False)
    assert [message.to for message in mail.outbox] == [["unverified@example.org"]]


def test_it_takes_the_verified_primary_address_from_github_when_the_public_one_is_hidden(client, github):
    github.answer_as(
        GRACE,
        public_email=False,
        emails=[
            {"email": "grace@old-job.example", "primary": False, "verified": True, "visibility": None},
            {"email": "grace@example.org", "primary": True, "verified": True, "visibility": "private"},
            {"email": "grace@typo.example", "primary": False, "verified": False, "visibility": None},
        ],
    )

    response = sign_in(client, github)

    assert response["Location"] == reverse("accounts_profile")
    assert len(github.transport.requests_to("GET", github.emails_url)) == 1
    user = User.objects.get()
    assert signed_in_user_id(client) == str(user.pk)
    assert user.email == "grace@example.org"
    primary = EmailAddress.objects.get(user=user, primary=True)
    assert (primary.email, primary.verified) == ("grace@example.org", True)


# --- A returning user ---------------------------------------------------------------------


def test_it_signs_a_returning_user_into_the_same_account_even_under_a_new_name(client, provider):
    provider.answer_as(GRACE)
    sign_in(client, provider)
    first_user = User.objects.get()
    client.logout()
    assert signed_in_user_id(client) is None

    provider.answer_as(Person(uid=GRACE.uid, email=GRACE.email, first_name="Amazing", last_name="Grace"))
    response = sign_in(client, provider)

    assert response["Location"] == reverse("accounts_profile")
    assert signed_in_user_id(client) == str(first_user.pk)
    assert User.objects.count() == 1
    account = SocialAccount.objects.get()
    assert account.user == first_user
    assert account.extra_data["name"] == "Amazing Grace"
    # The profile was filled at sign-up; later sign-ins don't overwrite what the user may have edited.
    first_user.profile.refresh_from_db()
    assert (first_user.profile.first_name, first_user.profile.last_name) == ("Grace", "Hopper")


# --- Someone else's address ---------------------------------------------------------------


@pytest.mark.parametrize("claimed_email", ["alice@example.com", "ALICE@Example.com"])
def test_it_never_hands_a_local_account_to_a_provider_claiming_its_address(
    client, provider, alice, claimed_email, django_capture_on_commit_callbacks
):
    provider.answer_as(Person(uid="4096", email=claimed_email, first_name="Mallory"))

    with django_capture_on_commit_callbacks(execute=True):
        response = sign_in(client, provider)

    # With mandatory verification and enumeration prevention, allauth answers exactly as it would
    # for a fresh sign-up ("check your inbox") and tells the address's owner instead.
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "Check your email" in client.get(response["Location"]).content.decode()
    assert signed_in_user_id(client) is None
    assert "socialaccount_sociallogin" not in client.session, "no half-done social sign-up is kept to finish later"
    assert list(User.objects.filter(email__iexact="alice@example.com")) == [alice]
    assert User.objects.count() == 1
    assert not SocialAccount.objects.exists()
    alice.refresh_from_db()
    assert alice.provider == Provider.LOCAL
    assert alice.has_usable_password()
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"]
    assert "Account already exists" in message.subject
    assert "an account using that email address already exists" in message.body


def test_it_recognises_an_address_typed_with_capitals_in_the_admin_as_taken(
    client, provider, django_capture_on_commit_callbacks
):
    form = UserCreationForm(data={"username": "alice", "email": "Alice@Example.com", "usable_password": "false"})
    assert form.is_valid(), form.errors
    alice = form.save()
    assert not EmailAddress.objects.filter(user=alice).exists()  # the admin only fills User.email
    provider.answer_as(Person(uid="4096", email="alice@example.com", first_name="Mallory"))

    with django_capture_on_commit_callbacks(execute=True):
        response = sign_in(client, provider)

    # Before User.save() lowercased addresses, allauth's lookup (exact, lowercased) missed
    # "Alice@example.com" and the sign-up crashed into accounts_user_email_ci_unique: a 500.
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert signed_in_user_id(client) is None
    assert list(User.objects.all()) == [alice]
    assert not SocialAccount.objects.exists()
    assert [message.to for message in mail.outbox] == [["alice@example.com"]]


# --- Failures -----------------------------------------------------------------------------


def test_it_shows_the_cancelled_page_when_the_user_denies_access_at_the_provider(client, provider, transport):
    state = start_sign_in(client, provider)

    response = come_back_from(client, provider, error="access_denied", state=state)

    assert response.status_code == 302
    assert response["Location"] == reverse("socialaccount_login_cancelled")
    assert "Login Cancelled" in client.get(response["Location"]).content.decode()
    assert signed_in_user_id(client) is None
    assert not User.objects.exists()
    assert transport.requests == []


def assert_login_failure_page(response):
    assert response.status_code == 401
    assert "socialaccount/authentication_error.html" in [t.name for t in response.templates]
    assert "Third-Party Login Failure" in response.content.decode()


def test_it_shows_the_error_page_when_the_provider_reports_an_error(client, provider, transport):
    state = start_sign_in(client, provider)

    response = come_back_from(client, provider, error="server_error", state=state)

    assert_login_failure_page(response)
    assert signed_in_user_id(client) is None
    assert not User.objects.exists()
    assert transport.requests == []


def test_it_shows_the_error_page_when_the_token_endpoint_refuses_the_code(client, provider):
    provider.fail_token_exchange()

    response = sign_in(client, provider)

    assert_login_failure_page(response)
    assert len(provider.transport.requests_to("POST", provider.token_url)) == 1
    assert signed_in_user_id(client) is None
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()


def test_it_refuses_a_callback_whose_state_this_browser_was_never_given(client, provider, transport):
    provider.answer_as(GRACE)
    start_sign_in(client, provider)

    response = come_back_from(client, provider, code="code-from-provider", state="forged-state")

    assert_login_failure_page(response)
    assert transport.requests == []
    assert signed_in_user_id(client) is None
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "claims",
    [{"aud": "someone-elses-app"}, {"iss": "https://evil.example"}, {"exp": int(time.time()) - 60}],
    ids=["another-audience", "another-issuer", "expired"],
)
def test_it_refuses_a_google_id_token_not_meant_for_us(client, google, claims):
    google.answer_as(GRACE, **claims)

    response = sign_in(client, google)

    assert_login_failure_page(response)
    assert signed_in_user_id(client) is None
    assert not User.objects.exists()


def test_it_shows_the_error_page_when_github_fails_to_give_the_profile(client, github):
    github.answer_as(GRACE)
    github.transport.answer("GET", github.user_url, status=502, json_body={"message": "Server Error"})

    response = sign_in(client, github)

    assert_login_failure_page(response)
    assert signed_in_user_id(client) is None
    assert not User.objects.exists()


# --- Deactivated accounts -----------------------------------------------------------------


def test_it_refuses_a_deactivated_user_who_signs_in_with_their_provider(client, provider):
    grace = UserFactory(email=GRACE.email, provider=provider.id, is_active=False)
    EmailAddress.objects.update_or_create(user=grace, email=grace.email, defaults={"verified": True, "primary": True})
    SocialAccount.objects.create(user=grace, provider=provider.id, uid=GRACE.uid)
    provider.answer_as(GRACE)

    response = sign_in(client, provider)

    assert response.status_code == 302
    assert response["Location"] == reverse("account_inactive")
    assert "This account is deactivated" in client.get(response["Location"]).content.decode()
    assert signed_in_user_id(client) is None
    assert client.get(reverse("accounts_profile")).status_code == 302
    assert User.objects.count() == 1


# --- The guard itself ---------------------------------------------------------------------


def test_the_guard_refuses_connections_beyond_this_machine():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed.


def test_the_fake_transport_fails_loudly_for_an_unanswered_url():
    with pytest.raises(UnexpectedRequest):
        requests.get("https://www.googleapis.com/oauth2/v1/certs", timeout=1)
