import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from accounts.models import Profile, Provider, User
from tests.accounts.mail import html_body, last_mail_to, link_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase-42"


def sign_up(client, committing, **overrides):
    data = {"email": "bob@example.com", "username": "bob", "password1": PASSWORD, "password2": PASSWORD, **overrides}
    with committing():
        return client.post("/accounts/signup/", data)


def test_it_creates_an_unverified_local_user_with_a_profile_and_mails_a_link(client, committing):
    response = sign_up(client, committing)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(username="bob")
    assert user.provider == Provider.LOCAL
    assert Profile.objects.filter(user=user).count() == 1
    assert EmailAddress.objects.get(user=user).verified is False
    message = last_mail_to("bob@example.com")
    assert "confirm your email address" in message.subject
    assert link_in(message, "/accounts/confirm-email/")
    assert "/accounts/confirm-email/" in html_body(message)


def test_the_verification_mail_is_sent_only_on_commit(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(
            "/accounts/signup/",
            {"email": "bob@example.com", "username": "bob", "password1": PASSWORD, "password2": PASSWORD},
        )
    assert len(callbacks) == 1
    assert mail.outbox == []


def test_the_user_is_not_signed_in_before_verifying(client, committing):
    sign_up(client, committing)
    response = client.get("/accounts/profile/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_taken_email_in_any_case_looks_like_success_and_warns_the_owner(client, committing, user):
    response = sign_up(client, committing, email="ALICE@Example.com", username="another")
    # Same answer as a fresh sign-up: nobody learns whether the address has an account.
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert not User.objects.filter(username="another").exists()
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    assert len(mail.outbox) == 1
    assert "already" in last_mail_to("alice@example.com").body.lower()


def test_a_taken_username_in_any_case_is_a_form_error(client, committing, user):
    response = sign_up(client, committing, username="ALICE")
    assert response.status_code == 200
    assert "A user with that username already exists." in response.content.decode()
    assert User.objects.count() == 1
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "This password is too short."),
        ("password123", "This password is too common."),
        ("8472916350", "This password is entirely numeric."),
        ("bob@example.com", "The password is too similar to the"),
    ],
)
def test_a_weak_password_is_a_form_error(client, committing, password, message):
    response = sign_up(client, committing, password1=password, password2=password)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.exists()


def test_mismatched_passwords_are_a_form_error(client, committing):
    response = sign_up(client, committing, password2=PASSWORD + "x")
    assert response.status_code == 200
    assert "You must type the same password each time." in response.content.decode()


def test_an_invalid_email_is_a_form_error(client, committing):
    response = sign_up(client, committing, email="not-an-email")
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert not User.objects.exists()


def test_a_signed_in_user_opening_sign_up_is_sent_on(client, user):
    client.force_login(user)
    response = client.get("/accounts/signup/")
    assert response.status_code == 302


def test_a_username_differing_only_in_case_from_a_factory_user_is_refused(client, committing):
    UserFactory(username="Carol", email="carol@example.com")
    response = sign_up(client, committing, username="carol", email="c2@example.com")
    assert response.status_code == 200
    assert User.objects.filter(username__iexact="carol").count() == 1
