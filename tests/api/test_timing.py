"""The API's login and register cost one password hash whether the account exists (counted, not timed)."""

import pytest
from django.core import mail

from accounts.models import User
from tests.accounts.hashing import counting_hashes
from tests.accounts.mail import last_mail_to

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase-42"


@pytest.mark.parametrize(
    "login",
    ["alice@example.com", "nobody@example.com", "alice", "nobody"],
    ids=["known-email", "unknown-email", "known-username", "unknown-username"],
)
def test_it_hashes_once_for_an_api_login_whether_or_not_the_login_exists(api, user, login):
    with counting_hashes() as hashes:
        response = api.post("/api/login", {"email": login, "password": "not-the-password"}, format="json")
    assert response.status_code == 401
    assert hashes.count == 1


def register(api, committing, email, username):
    with counting_hashes() as hashes, committing():
        response = api.post(
            "/api/register", {"email": email, "username": username, "password": PASSWORD}, format="json"
        )
    return response, hashes.count


def test_an_api_register_with_a_taken_email_hashes_once_and_mails_the_owner_like_a_free_one(api, committing, user):
    response, hashes = register(api, committing, "alice@example.com", "another")
    assert response.status_code == 422
    assert response.json() == {"errors": {"email": "This email address is already taken."}}
    assert hashes == 1
    assert len(mail.outbox) == 1
    assert "already" in last_mail_to("alice@example.com").body.lower()
    mail.outbox.clear()

    response, hashes = register(api, committing, "bob@example.com", "bob")
    assert response.status_code == 201
    assert hashes == 1
    assert len(mail.outbox) == 1
    assert User.objects.filter(username="another").exists() is False


def test_an_api_register_refused_for_a_weak_password_still_hashes_once(api, committing, db):
    with counting_hashes() as hashes:
        response = api.post(
            "/api/register", {"email": "bob@example.com", "username": "bob", "password": "short"}, format="json"
        )
    assert response.status_code == 422
    assert hashes.count == 1
