"""A sign-in or sign-up costs the same work whether the account exists: one password hash (the slow
part, whose timing an outside probe measured) and, for sign-ups, one mail. Counted, not timed."""

import pytest
from django.core import mail

from accounts.models import User
from tests.accounts.hashing import counting_hashes
from tests.accounts.mail import last_mail_to

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase-42"


def portal_sign_in(client, login):
    with counting_hashes() as hashes:
        response = client.post("/accounts/login/", {"login": login, "password": "not-the-password"})
    assert response.status_code == 200, "a wrong password is the form's error"
    return hashes.count


@pytest.mark.parametrize(
    "login",
    ["alice@example.com", "ALICE@example.com", "nobody@example.com", "alice", "nobody"],
    ids=["known-email", "known-email-in-capitals", "unknown-email", "known-username", "unknown-username"],
)
def test_it_hashes_once_for_a_portal_sign_in_whether_or_not_the_login_exists(client, user, login):
    assert portal_sign_in(client, login) == 1


def test_it_still_signs_in_by_email_and_by_username_on_the_portal(client, user):
    from tests.factories import DEFAULT_PASSWORD

    for login in ("alice@example.com", "alice"):
        client.logout()
        response = client.post("/accounts/login/", {"login": login, "password": DEFAULT_PASSWORD})
        assert response.status_code == 302
        assert client.session["_auth_user_id"] == str(user.pk)


def portal_sign_up(client, committing, email, username):
    data = {"email": email, "username": username, "password1": PASSWORD, "password2": PASSWORD}
    with counting_hashes() as hashes, committing():
        response = client.post("/accounts/signup/", data)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    return hashes.count


def test_a_portal_sign_up_with_a_taken_email_hashes_once_and_mails_once_like_a_free_one(client, committing, user):
    assert portal_sign_up(client, committing, "alice@example.com", "another") == 1
    assert len(mail.outbox) == 1
    assert "already" in last_mail_to("alice@example.com").body.lower()
    mail.outbox.clear()

    assert portal_sign_up(client, committing, "bob@example.com", "bob") == 1
    assert len(mail.outbox) == 1
    assert "confirm your email address" in last_mail_to("bob@example.com").subject
    assert User.objects.filter(email__in=["alice@example.com", "bob@example.com"]).count() == 2
