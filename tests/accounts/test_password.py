import pytest
from allauth.usersessions.models import UserSession
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from tests.accounts.mail import last_mail_to, link_in
from tests.factories import DEFAULT_PASSWORD
from tests.mfa_helpers import mark_reauthenticated

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-unusual-passphrase-77"


def signed_in_client(user) -> Client:
    other = Client()
    other.post("/accounts/login/", {"login": user.username, "password": DEFAULT_PASSWORD})
    assert SESSION_KEY in other.session
    return other


def test_reset_mails_a_link_to_a_known_address(client, committing, user):
    with committing():
        response = client.post("/accounts/password/reset/", {"email": "ALICE@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/done/"
    assert link_in(last_mail_to("alice@example.com"), "/accounts/password/reset/key/")


def test_reset_for_an_unknown_address_answers_the_same_and_sends_one_neutral_mail(client, committing, db):
    with committing():
        response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/done/"
    assert len(mail.outbox) == 1
    message = last_mail_to("nobody@example.com")
    assert "/accounts/password/reset/key/" not in message.body


def test_reset_from_the_link_sets_the_password_and_ends_every_session(client, committing, user):
    elsewhere = signed_in_client(user)
    with committing():
        client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    link = link_in(last_mail_to("alice@example.com"), "/accounts/password/reset/key/")
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    form_url = form_page.redirect_chain[-1][0]
    with committing():
        response = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert elsewhere.get("/accounts/profile/").status_code == 302


def test_a_used_or_bad_reset_link_shows_a_clear_page(client, committing, user):
    with committing():
        client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    link = link_in(last_mail_to("alice@example.com"), "/accounts/password/reset/key/")
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    response = Client().get(link, follow=True)
    assert "This reset link has been used already, or it has expired." in response.content.decode()
    response = Client().get("/accounts/password/reset/key/1-bad-token/", follow=True)
    assert "This reset link has been used already, or it has expired." in response.content.decode()


def test_reset_refuses_a_weak_password(client, committing, user):
    with committing():
        client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    link = link_in(last_mail_to("alice@example.com"), "/accounts/password/reset/key/")
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    response = client.post(form_url, {"password1": "short", "password2": "short"})
    assert response.status_code == 200
    assert "This password is too short." in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_change_needs_the_current_password(client, user):
    client.force_login(user)
    mark_reauthenticated(client, user)
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": "not-my-password", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    assert "Please type your current password." in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_change_keeps_this_session_ends_the_others_and_notifies(client, committing, user):
    elsewhere = signed_in_client(user)
    here = signed_in_client(user)
    mark_reauthenticated(here, user)
    with committing():
        response = here.post(
            "/accounts/password/change/",
            {"oldpassword": DEFAULT_PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        )
    assert response.status_code == 302
    assert here.get("/accounts/profile/").status_code == 200
    assert elsewhere.get("/accounts/profile/").status_code == 302
    assert "password" in last_mail_to("alice@example.com").subject.lower()
    assert UserSession.objects.filter(user=user).count() == 1
