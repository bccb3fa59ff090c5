from unittest import mock

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.core import mail
from django.core.cache import cache

from tests.accounts.mail import last_mail_to, link_in
from tests.factories import DEFAULT_PASSWORD
from tests.mfa_helpers import mark_reauthenticated

pytestmark = pytest.mark.django_db


def confirmation_link(user) -> str:
    address = EmailAddress.objects.get(user=user)
    return f"/accounts/confirm-email/{EmailConfirmationHMAC(address).key}/"


def test_opening_the_link_asks_for_a_click_and_does_not_confirm_on_get(client, unverified_user):
    response = client.get(confirmation_link(unverified_user))
    assert response.status_code == 200
    assert "newbie@example.com" in response.content.decode()
    assert EmailAddress.objects.get(user=unverified_user).verified is False


def test_confirming_verifies_the_address_and_lets_the_user_sign_in(client, unverified_user):
    response = client.post(confirmation_link(unverified_user))
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=unverified_user).verified is True
    response = client.post("/accounts/login/", {"login": "newbie", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"


def test_an_expired_link_shows_a_clear_page_and_confirms_nothing(client, unverified_user):
    four_days_ago = 1_000_000_000
    with mock.patch("django.core.signing.time.time", return_value=four_days_ago):
        link = confirmation_link(unverified_user)
    response = client.get(link)
    assert response.status_code == 200
    assert "expired or is invalid" in response.content.decode()
    client.post(link)
    assert EmailAddress.objects.get(user=unverified_user).verified is False


def test_a_tampered_link_shows_the_same_clear_page(client, unverified_user):
    response = client.get(confirmation_link(unverified_user)[:-4] + "xxx/")
    assert response.status_code == 200
    assert "expired or is invalid" in response.content.decode()


def test_a_used_link_confirms_nothing_more_and_says_so(client, unverified_user):
    link = confirmation_link(unverified_user)
    client.post(link)
    response = client.get(link)
    assert response.status_code == 200
    assert EmailAddress.objects.filter(user=unverified_user, verified=True).count() == 1


def test_signing_in_unverified_is_refused_and_resends_the_link(client, committing, unverified_user):
    with committing():
        response = client.post("/accounts/login/", {"login": "newbie@example.com", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert client.get("/accounts/profile/").status_code == 302
    assert link_in(last_mail_to("newbie@example.com"), "/accounts/confirm-email/")


def test_a_signed_in_user_can_resend_verification_for_an_added_address(client, committing, user):
    client.force_login(user)
    mark_reauthenticated(client, user)  # adding an address asks for it (ACCOUNT_REAUTHENTICATION_REQUIRED)
    with committing():
        client.post("/accounts/email/", {"action_add": "", "email": "alice.work@example.com"})
    assert link_in(last_mail_to("alice.work@example.com"), "/accounts/confirm-email/")
    mail.outbox.clear()
    with committing():
        client.post("/accounts/email/", {"action_send": "", "email": "alice.work@example.com"})
    assert mail.outbox == [], "a resend within three minutes is rate limited"
    cache.clear()  # three minutes later
    with committing():
        response = client.post("/accounts/email/", {"action_send": "", "email": "alice.work@example.com"})
    assert response.status_code == 302
    assert link_in(last_mail_to("alice.work@example.com"), "/accounts/confirm-email/")
