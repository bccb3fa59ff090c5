"""Addresses that differ only by non-ASCII case are one address on every database (SQLite's lower()
and LIKE fold ASCII only): one stored spelling, exact lookups, a clean refusal instead of a 500."""

import importlib
import unicodedata
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core import mail
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User, normalize_email
from tests.accounts.mail import last_mail_to
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase-42"


@pytest.fixture
def umlaut_user(db):
    return UserFactory(username="umlaut", email="user@exämple.com")


def test_it_normalises_case_composition_and_spaces_in_one_place():
    decomposed = unicodedata.normalize("NFD", " User@EXÄMPLE.com ")
    assert normalize_email(decomposed) == "user@exämple.com"
    assert normalize_email(None) == ""


def test_it_stores_an_address_in_its_one_spelling(db):
    user = UserFactory(username="caps", email="Someone@EXÄMPLE.com")
    user.refresh_from_db()
    assert user.email == "someone@exämple.com"


def test_an_api_registration_in_other_unicode_case_is_a_clean_422(umlaut_user, committing):
    with committing():
        response = APIClient().post(
            "/api/register", {"email": "user@EXÄMPLE.com", "username": "other", "password": PASSWORD}, format="json"
        )
    assert response.status_code == 422
    assert response.json() == {"errors": {"email": "This email address is already taken."}}
    assert User.objects.filter(email="user@exämple.com").count() == 1
    assert "already" in last_mail_to("user@exämple.com").body.lower()


def test_a_portal_sign_up_in_other_unicode_case_gets_the_taken_address_answer(client, committing, umlaut_user):
    data = {"email": "user@EXÄMPLE.com", "username": "other", "password1": PASSWORD, "password2": PASSWORD}
    with committing():
        response = client.post("/accounts/signup/", data)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert not User.objects.filter(username="other").exists()
    assert len(mail.outbox) == 1
    assert "already" in last_mail_to("user@exämple.com").body.lower()


def test_an_api_login_in_other_unicode_case_finds_the_account(umlaut_user):
    response = APIClient().post(
        "/api/login", {"email": "user@EXÄMPLE.com", "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["user"]["email"] == "user@exämple.com"


def test_an_api_code_request_in_other_unicode_case_mails_the_account_a_code(umlaut_user, committing):
    with committing():
        response = APIClient().post("/api/request/login-code", {"email": "user@EXÄMPLE.com"}, format="json")
    assert response.status_code == 200
    assert umlaut_user.login_codes.count() == 1


def test_the_migration_normalises_addresses_stored_before(db):
    user = UserFactory(username="old", email="old@example.com")
    User.objects.filter(pk=user.pk).update(email="Old@EXÄMPLE.com")  # as 0004's ASCII-only lower() left it
    migration = importlib.import_module("accounts.migrations.0009_normalize_existing_emails")
    migration.normalize_emails(apps, SimpleNamespace(connection=connection))
    user.refresh_from_db()
    assert user.email == "old@exämple.com"
