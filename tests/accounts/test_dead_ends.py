"""No dead ends: after a reset, on a deactivated account, and in the mail a deactivated address gets."""

import pytest
from django.test import Client

from tests.accounts.mail import html_body, last_mail_to, link_in
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-unusual-passphrase-77"


@pytest.fixture
def deactivated(user, settings):
    settings.SUPPORT_EMAIL = "help@gatehouse.example"
    user.is_active = False
    user.save(update_fields=["is_active"])
    return user


def test_after_a_reset_the_page_offers_to_sign_in(client, committing, user):
    with committing():
        client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    link = link_in(last_mail_to("alice@example.com"), "/accounts/password/reset/key/")
    form_url = client.get(link)["Location"]
    response = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, follow=True)
    page = response.content.decode()
    assert "Your password is changed" in page
    assert '<a href="/accounts/login/" class="button button-block">Sign in</a>' in page


def test_a_deactivated_account_trying_to_sign_in_is_told_how_to_get_help(client, deactivated):
    response = client.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD}, follow=True)
    page = response.content.decode()
    assert "This account is deactivated" in page
    assert '<a href="mailto:help@gatehouse.example">help@gatehouse.example</a>' in page


def test_a_reset_for_a_deactivated_address_says_so_and_how_to_get_help(client, committing, deactivated):
    with committing():
        response = client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert response["Location"] == "/accounts/password/reset/done/", "the page answers as for any address"
    message = last_mail_to("alice@example.com")
    assert "deactivated" in message.subject.lower()
    assert "no record" not in message.body
    assert "sign up" not in message.body.lower()
    assert "That account (alice) is deactivated" in message.body
    assert "write to help@gatehouse.example" in message.body
    assert 'href="mailto:help@gatehouse.example"' in html_body(message)


def test_a_code_request_for_a_deactivated_address_gets_the_same_help(client, committing, deactivated):
    with committing():
        client.post("/accounts/login/code/", {"email": "alice@example.com"})
    message = last_mail_to("alice@example.com")
    assert "That account (alice) is deactivated" in message.body


def test_an_unknown_address_still_gets_the_neutral_mail(client, committing, db):
    with committing():
        client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert "do not have any record" in last_mail_to("nobody@example.com").body


def test_the_deactivation_mail_says_whom_to_write_to_not_to_reply_to_a_no_reply_address(committing, user, settings):
    from accounts.services import deactivate_account

    settings.SUPPORT_EMAIL = "help@gatehouse.example"
    with committing():
        deactivate_account(user=user)
    body = last_mail_to("alice@example.com").body
    assert "reply to this email" not in body
    assert "write to help@gatehouse.example" in body


def test_the_reset_done_page_links_to_support(client, settings):
    settings.SUPPORT_EMAIL = "help@gatehouse.example"
    page = Client().get("/accounts/password/reset/done/").content.decode()
    assert '<a href="mailto:help@gatehouse.example">Contact us at help@gatehouse.example</a>' in page
