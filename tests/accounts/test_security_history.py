"""The security history (issue 16): each event recorded once, from whichever path caused it, and
mailed where promised (new factor, factor removed, password changed, sign-in from a new device)."""

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import AppendOnlyError, SecurityEvent
from tests.accounts.mail import html_body, last_mail_to
from tests.factories import DEFAULT_PASSWORD
from tests.mfa_helpers import mark_reauthenticated

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind
CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
NEW_PASSWORD = "a-brand-new-long-password-77"


def kinds(user) -> list[str]:
    return list(SecurityEvent.objects.filter(user=user).order_by("pk").values_list("kind", flat=True))


def portal_sign_in(user_agent=CHROME_LINUX, login="alice", password=DEFAULT_PASSWORD) -> Client:
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR="203.0.113.7")
    response = client.post("/accounts/login/", {"login": login, "password": password})
    assert response.status_code == 302, response.content
    return client


def current_totp(secret: str) -> str:
    from allauth.mfa import app_settings

    return format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD))


def activate_totp(client) -> str:
    client.post("/accounts/reauthenticate/", {"password": DEFAULT_PASSWORD})  # allauth asks before MFA changes
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200, (page.status_code, page.get("Location"))
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post("/accounts/2fa/totp/activate/", {"code": current_totp(secret)})
    assert response.status_code == 302, response.content
    return secret


# --- sign-ins -----------------------------------------------------------------------------------


def test_a_portal_sign_in_is_recorded_once_with_method_ip_and_device(user, committing):
    with committing():
        portal_sign_in()
    (event,) = SecurityEvent.objects.filter(user=user)
    assert (event.kind, event.method, event.ip, event.device) == (
        Kind.SIGNED_IN,
        "Password",
        "203.0.113.7",
        "Chrome on Linux",
    )
    assert mail.outbox == []  # an account's first sign-in from anywhere is no news to its owner


def test_a_sign_in_from_a_new_device_is_recorded_and_mailed_once(user, committing):
    with committing():
        portal_sign_in(CHROME_LINUX)
        portal_sign_in(CHROME_LINUX)
    assert mail.outbox == []
    with committing():
        portal_sign_in(SAFARI_IPHONE)
    assert kinds(user) == [Kind.SIGNED_IN, Kind.SIGNED_IN, Kind.SIGNED_IN, Kind.NEW_DEVICE]
    assert len(mail.outbox) == 1
    message = last_mail_to("alice@example.com")
    assert message.subject == "[Gatehouse] New sign-in to your account from Safari on iPhone"
    for text in (message.body, html_body(message)):
        assert "signed in from a device it has not been signed in from before: Safari on iPhone (Password)" in text
        assert "203.0.113.7" in text
        assert "UTC" in text
        assert "If it was not you" in text
        assert "/accounts/password/reset/" in text
        assert "/accounts/security/" in text
    with committing():
        portal_sign_in(SAFARI_IPHONE)
    assert len(mail.outbox) == 1  # the same device again is not new


def test_an_api_sign_in_is_recorded_with_the_app_as_method(user, committing):
    api = APIClient(HTTP_USER_AGENT="GatehouseApp/2.1 (Android 14)", REMOTE_ADDR="198.51.100.4")
    with committing():
        response = api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200
    (event,) = SecurityEvent.objects.filter(user=user)
    assert (event.kind, event.method, event.ip, event.device) == (
        Kind.SIGNED_IN,
        "App, password",
        "198.51.100.4",
        "A browser on Android",
    )


def test_a_wrong_password_is_a_failed_sign_in_in_the_portal_and_the_api(user):
    Client(REMOTE_ADDR="203.0.113.9").post("/accounts/login/", {"login": "alice", "password": "wrong"})
    APIClient().post("/api/login", {"email": "alice@example.com", "password": "wrong"}, format="json")
    events = SecurityEvent.objects.filter(user=user)
    assert [(e.kind, e.method) for e in events.order_by("pk")] == [
        (Kind.SIGN_IN_FAILED, "Password"),
        (Kind.SIGN_IN_FAILED, "Password"),
    ]
    assert events.order_by("pk").first().ip == "203.0.113.9"


def test_a_wrong_api_login_code_is_a_failed_sign_in(user, committing):
    with committing():
        APIClient().post("/api/request/login-code", {"email": "alice@example.com"}, format="json")
    response = APIClient().post("/api/login/code", {"email": "alice@example.com", "code": "000000"}, format="json")
    assert response.status_code == 400
    assert kinds(user) == [Kind.SIGN_IN_FAILED]


# --- password -----------------------------------------------------------------------------------


def test_a_password_change_in_the_portal_is_recorded_once_and_mailed_once(user, committing):
    client = portal_sign_in()
    mark_reauthenticated(client, user)  # allauth asks for the password again first
    mail.outbox.clear()
    with committing():
        response = client.post(
            "/accounts/password/change/",
            {"oldpassword": DEFAULT_PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        )
    assert response.status_code == 302
    assert kinds(user).count(Kind.PASSWORD_CHANGED) == 1
    (message,) = mail.outbox
    assert "Your password has been changed." in message.body
    assert "If it was not you" in message.body


def test_a_password_change_over_the_api_is_recorded_once_and_mailed_once(user, committing):
    from tests.api.conftest import bearer, login

    api = bearer(APIClient(), login(APIClient())["token"])
    mail.outbox.clear()
    with committing():
        response = api.post(
            "/api/change-password", {"old_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}, format="json"
        )
    assert response.status_code == 200
    assert kinds(user).count(Kind.PASSWORD_CHANGED) == 1
    assert [m.subject for m in mail.outbox] == ["[Gatehouse] Password changed"]


def test_the_same_password_change_signalled_twice_is_recorded_once(user, rf):
    from allauth.account.signals import password_changed
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.post("/")
    request.user, request.session = user, SessionStore()
    password_changed.send(sender=type(user), request=request, user=user)
    password_changed.send(sender=type(user), request=request, user=user)
    assert kinds(user) == [Kind.PASSWORD_CHANGED]


# --- second factors -----------------------------------------------------------------------------


def test_adding_and_removing_an_authenticator_app_is_recorded_and_mailed(user, committing):
    client = portal_sign_in()
    mail.outbox.clear()
    with committing():
        activate_totp(client)
    assert kinds(user)[1:] == [Kind.FACTOR_ADDED, Kind.FACTOR_ADDED]
    added = SecurityEvent.objects.filter(user=user, kind=Kind.FACTOR_ADDED).order_by("pk")
    assert [e.detail for e in added] == ["Authenticator app", "Recovery codes"]
    (message,) = mail.outbox  # one mail: the recovery codes come with the app
    assert "Authenticator app activated." in message.body
    assert "If it was not you" in message.body

    mail.outbox.clear()
    with committing():
        response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 302
    removed = SecurityEvent.objects.filter(user=user, kind=Kind.FACTOR_REMOVED).order_by("pk")
    assert [e.detail for e in removed] == ["Authenticator app", "Recovery codes"]
    (message,) = mail.outbox
    assert "Authenticator app deactivated." in message.body


def test_a_recovery_code_used_to_sign_in_is_recorded_once(user, committing):
    client = portal_sign_in()
    with committing():
        activate_totp(client)
    code = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES).wrap().get_unused_codes()[0]
    other = Client(HTTP_USER_AGENT=CHROME_LINUX)
    response = other.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    assert response["Location"] == "/accounts/2fa/authenticate/"
    with committing():
        response = other.post("/accounts/2fa/authenticate/", {"code": code})
        # "Trust this browser?" (MFA_TRUST_ENABLED) comes last; the sign-in completes on the answer.
        assert response["Location"] == "/accounts/2fa/trust/"
        response = other.post("/accounts/2fa/trust/", {"action": "no"})
    assert response.status_code == 302
    (used,) = SecurityEvent.objects.filter(user=user, kind=Kind.RECOVERY_CODE_USED)
    assert used.detail == "9 unused recovery codes left."
    last_sign_in = SecurityEvent.objects.filter(user=user, kind=Kind.SIGNED_IN).latest("pk")
    assert last_sign_in.method == "Password and recovery code"


def test_a_wrong_second_factor_code_is_a_failed_sign_in(user, committing):
    client = portal_sign_in()
    with committing():
        activate_totp(client)
    other = Client()
    other.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    other.post("/accounts/2fa/authenticate/", {"code": "123456"})
    (failed,) = SecurityEvent.objects.filter(user=user, kind=Kind.SIGN_IN_FAILED)
    assert failed.method == "Authenticator app"


# --- email, sessions, tokens, deactivation -----------------------------------------------------


def test_a_primary_email_change_is_recorded(user, committing):
    from allauth.account.models import EmailAddress

    new = EmailAddress.objects.create(user=user, email="alice@new.example", verified=True)
    client = portal_sign_in()
    with committing():
        client.post("/accounts/reauthenticate/", {"password": DEFAULT_PASSWORD})
        response = client.post("/accounts/email/", {"action_primary": "", "email": new.email})
    assert response.status_code == 302
    (event,) = SecurityEvent.objects.filter(user=user, kind=Kind.EMAIL_CHANGED)
    assert event.detail == "alice@example.com \u2192 alice@new.example"


def test_signing_out_everywhere_else_is_recorded_with_how_many(user, committing):
    portal_sign_in(SAFARI_IPHONE)
    client = portal_sign_in(CHROME_LINUX)
    response = client.post("/accounts/sessions/")
    assert response.status_code == 302
    (event,) = SecurityEvent.objects.filter(user=user, kind=Kind.SESSIONS_ENDED)
    assert event.detail == "1 other session signed out."
    assert client.get("/accounts/profile/").status_code == 200  # this one stays signed in


def test_signing_out_one_other_session_is_recorded_and_this_one_is_not(user):
    from allauth.usersessions.models import UserSession

    portal_sign_in(SAFARI_IPHONE)
    client = portal_sign_in(CHROME_LINUX)
    iphone, this = UserSession.objects.filter(user=user).order_by("pk")
    client.post(f"/accounts/sessions/{iphone.pk}/sign-out/")
    (event,) = SecurityEvent.objects.filter(user=user, kind=Kind.SESSIONS_ENDED)
    assert event.detail == "Safari on iPhone, last active from 203.0.113.7."
    client.post(f"/accounts/sessions/{this.pk}/sign-out/")
    assert SecurityEvent.objects.filter(user=user, kind=Kind.SESSIONS_ENDED).count() == 1


def test_a_replayed_refresh_token_is_recorded_once(user, settings):
    from tests.api.conftest import login

    settings.REFRESH_REUSE_GRACE_SECONDS = 0
    first = login(APIClient())["refresh_token"]
    assert APIClient().post("/api/refresh-token", {"refresh_token": first}, format="json").status_code == 200
    for _ in range(2):
        replay = APIClient(REMOTE_ADDR="192.0.2.66").post("/api/refresh-token", {"refresh_token": first}, format="json")
        assert replay.status_code == 401
    (event,) = SecurityEvent.objects.filter(user=user, kind=Kind.TOKEN_REPLAY)
    assert event.ip == "192.0.2.66"


def test_deactivation_is_recorded_once(user, committing):
    from accounts.services import deactivate_account

    with committing():
        deactivate_account(user=user)
    assert kinds(user) == [Kind.DEACTIVATED]


def test_events_are_append_only():
    from tests.factories import UserFactory

    event = SecurityEvent.objects.create(user=UserFactory(), kind=Kind.SIGNED_IN)
    event.detail = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
