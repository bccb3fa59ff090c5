"""The "check your email" page after a sign-up, or an unverified sign-in: the address, a resend with
its cooldown, a fix for a mistyped address, a real "contact us" link, and a sign-in at the end."""

import re
import time
from unittest import mock

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from accounts.models import User
from tests.accounts.mail import last_mail_to, link_in
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-and-new-password-42"


def sign_up(client, committing, email="dora@example.com", username="dora"):
    with committing():
        response = client.post(
            "/accounts/signup/",
            {"email": email, "username": username, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        )
    assert response["Location"] == "/accounts/confirm-email/"
    return client.get("/accounts/confirm-email/").content.decode()


def test_it_names_the_address_and_shows_the_resend_cooldown(client, committing):
    page = sign_up(client, committing)
    assert "We sent a link to <strong>dora@example.com</strong>" in page
    assert "finish creating your account" in page
    assert re.search(r"You can ask for another email in (3 minutes|2 minutes 5\d seconds)\.", page)
    assert 'disabled aria-describedby="resend-wait"' in page


def test_it_resends_the_link_once_the_cooldown_is_over(client, committing):
    sign_up(client, committing)
    mail.outbox.clear()
    with committing():
        client.post("/accounts/confirm-email/resend/")
    assert mail.outbox == [], "inside allauth's confirm_email limit nothing is sent"
    later = time.time() + 181
    with (
        mock.patch("allauth.core.internal.ratelimit.time.time", return_value=later),
        mock.patch("accounts.allauth_internals.time.time", return_value=later),
    ):
        assert "You can ask for another email" not in client.get("/accounts/confirm-email/").content.decode()
        with committing():
            response = client.post("/accounts/confirm-email/resend/")
    assert response["Location"] == "/accounts/confirm-email/"
    assert link_in(last_mail_to("dora@example.com"), "/accounts/confirm-email/")


def test_a_mistyped_address_can_be_corrected_and_the_link_goes_there(client, committing):
    sign_up(client, committing, email="dora@exmaple.com")
    first_link = link_in(last_mail_to("dora@exmaple.com"), "/accounts/confirm-email/")
    with committing():
        response = client.post("/accounts/confirm-email/change-address/", {"email": "dora@example.com"})
    assert response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(username="dora")
    assert user.email == "dora@example.com"
    assert EmailAddress.objects.get(user=user).email == "dora@example.com"
    link = link_in(last_mail_to("dora@example.com"), "/accounts/confirm-email/")
    assert (
        "We sent a link to <strong>dora@example.com</strong>" in client.get("/accounts/confirm-email/").content.decode()
    )
    assert link != first_link
    Client().post(first_link)
    assert not EmailAddress.objects.filter(verified=True).exists(), "the mistyped address's link confirms nothing"
    client.post(link)
    assert client.get("/accounts/profile/").status_code == 200, "confirming in the same browser signs in"


def test_correcting_to_a_taken_address_changes_nothing_and_tells_the_owner(client, committing, user):
    sign_up(client, committing, email="dora@exmaple.com")
    with committing():
        client.post("/accounts/confirm-email/change-address/", {"email": "alice@example.com"})
    assert User.objects.get(username="dora").email == "dora@exmaple.com"
    assert User.objects.get(username="alice").email == "alice@example.com"
    assert "already" in last_mail_to("alice@example.com").body.lower()
    page = client.get("/accounts/confirm-email/").content.decode()
    assert "We sent a link to <strong>alice@example.com</strong>" in page, "the page looks as for a free address"


def test_the_address_can_be_corrected_only_a_few_times(client, committing):
    sign_up(client, committing, email="dora@exmaple.com")
    for attempt in range(3):
        client.post("/accounts/confirm-email/change-address/", {"email": f"dora{attempt}@example.com"})
    client.post("/accounts/confirm-email/change-address/", {"email": "dora9@example.com"})
    assert User.objects.get(username="dora").email == "dora2@example.com"
    assert "changed the address too often" in client.get("/accounts/confirm-email/").content.decode()


def test_a_bad_address_is_refused_with_the_form_shown_again(client, committing):
    sign_up(client, committing)
    response = client.post("/accounts/confirm-email/change-address/", {"email": "not an address"})
    assert response.status_code == 422
    assert "Enter a valid email address." in response.content.decode()


def test_contact_us_is_a_link_to_the_support_address(client, settings):
    settings.SUPPORT_EMAIL = "help@gatehouse.example"
    page = client.get("/accounts/confirm-email/").content.decode()
    assert '<a href="mailto:help@gatehouse.example">Contact us at help@gatehouse.example</a>' in page


def test_an_unverified_sign_in_lands_there_and_is_told_why(client, committing, unverified_user):
    with committing():
        response = client.post("/accounts/login/", {"login": "newbie", "password": DEFAULT_PASSWORD})
    assert response["Location"] == "/accounts/confirm-email/"
    page = client.get("/accounts/confirm-email/").content.decode()
    assert "You can sign in once your email address is confirmed" in page
    assert "We sent a link to <strong>newbie@example.com</strong>" in page


def test_confirming_in_another_browser_fills_in_the_sign_in_form(client, committing, django_user_model):
    sign_up(client, committing)
    link = link_in(last_mail_to("dora@example.com"), "/accounts/confirm-email/")
    phone = Client()
    response = phone.post(link)
    assert response["Location"] == "/accounts/login/"
    page = phone.get("/accounts/login/").content.decode()
    assert 'value="dora@example.com"' in page
    assert 'value="dora@example.com"' not in phone.get("/accounts/login/").content.decode(), "only once"


def test_a_resend_without_a_pending_sign_up_goes_to_sign_in(client):
    response = client.post("/accounts/confirm-email/resend/")
    assert response["Location"] == "/accounts/login/"


def test_a_taken_address_at_sign_up_gets_the_same_page(client, committing):
    UserFactory(username="other", email="dora@example.com")
    page = sign_up(client, committing, username="dora2")
    assert "We sent a link to <strong>dora@example.com</strong>" in page
    assert "Wrong address?" in page
