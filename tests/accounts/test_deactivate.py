import pytest
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.contrib.auth import SESSION_KEY
from django.test import Client

from accounts.models import User
from accounts.services import deactivate_account
from tests.accounts.mail import last_mail_to
from tests.factories import DEFAULT_PASSWORD
from tests.mfa_helpers import sign_in_with_second_factor

pytestmark = pytest.mark.django_db


def signed_in_client(user) -> Client:
    browser = Client()
    browser.post("/accounts/login/", {"login": user.username, "password": DEFAULT_PASSWORD})
    assert SESSION_KEY in browser.session
    return browser


def reauthenticate(browser) -> None:
    response = browser.post("/accounts/reauthenticate/", {"password": DEFAULT_PASSWORD})
    assert response.status_code == 302


def test_the_page_asks_for_the_password_again_first(client, user):
    client.force_login(user)  # no recent password entry on this session
    response = client.get("/accounts/deactivate/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/")


def test_a_wrong_password_on_reauthentication_changes_nothing(client, user):
    client.force_login(user)
    response = client.post("/accounts/reauthenticate/", {"password": "wrong-password"})
    assert response.status_code == 200
    assert client.get("/accounts/deactivate/").status_code == 302
    user.refresh_from_db()
    assert user.is_active


def test_it_needs_the_confirmation_box(user):
    browser = signed_in_client(user)
    reauthenticate(browser)
    response = browser.post("/accounts/deactivate/", {})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    user.refresh_from_db()
    assert user.is_active


def test_deactivating_signs_out_everywhere_and_blocks_every_sign_in(committing, user):
    here, elsewhere = signed_in_client(user), signed_in_client(user)
    assert here.get("/accounts/deactivate/").status_code == 302  # even right after sign-in
    reauthenticate(here)
    assert here.get("/accounts/deactivate/").status_code == 200
    with committing():
        response = here.post("/accounts/deactivate/", {"confirm": "on"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    user.refresh_from_db()
    assert user.is_active is False
    assert UserSession.objects.filter(user=user).count() == 0
    assert SESSION_KEY not in here.session
    assert elsewhere.get("/accounts/profile/").status_code == 302
    assert "deactivated" in last_mail_to("alice@example.com").subject.lower()
    # Password sign-in is refused.
    again = Client()
    again.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    assert SESSION_KEY not in again.session


def test_the_service_ends_sessions_and_mails_outside_a_request(committing, user):
    browser = signed_in_client(user)
    with committing():
        deactivate_account(user=user)
    assert User.objects.get(pk=user.pk).is_active is False
    assert browser.get("/accounts/profile/").status_code == 302
    message = last_mail_to("alice@example.com")
    assert "alice" in message.body


def test_staff_deactivate_users_from_the_admin(client, committing, staff, user, unverified_user):
    member = signed_in_client(user)
    sign_in_with_second_factor(client, staff)
    with committing():
        response = client.post(
            "/admin/accounts/user/",
            {"action": "deactivate", "_selected_action": [user.pk, unverified_user.pk]},
            follow=True,
        )
    assert "Deactivated 2 user(s)." in response.content.decode()
    assert not User.objects.filter(pk__in=[user.pk, unverified_user.pk], is_active=True).exists()
    assert member.get("/accounts/profile/").status_code == 302
    assert EmailAddress.objects.filter(user=user).exists(), "deactivation keeps the data"
