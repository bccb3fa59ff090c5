import time
from unittest import mock

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail

from tests.accounts.mail import code_in, last_mail_to

pytestmark = pytest.mark.django_db


def request_code(client, committing, email="alice@example.com"):
    with committing():
        return client.post("/accounts/login/code/", {"email": email})


def enter(client, code):
    return client.post("/accounts/login/code/confirm/", {"code": code})


def test_it_mails_a_six_digit_code_and_signs_in_with_it(client, committing, user):
    response = request_code(client, committing)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/code/confirm/"
    code = code_in(last_mail_to("alice@example.com"))
    assert len(code) == 6
    assert code.isdigit()
    response = enter(client, code)
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(user.pk)


def test_an_unknown_address_gets_the_same_answer_and_one_neutral_mail(client, committing, db):
    response = request_code(client, committing, email="nobody@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/code/confirm/"
    assert len(mail.outbox) == 1
    assert "nobody@example.com" in mail.outbox[0].to
    assert not any(word.isdigit() and len(word) == 6 for word in mail.outbox[0].body.split())


def test_three_wrong_codes_kill_the_code(client, committing, user):
    request_code(client, committing)
    code = code_in(last_mail_to("alice@example.com"))
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):
        enter(client, wrong)
    response = enter(client, code)
    assert SESSION_KEY not in client.session
    assert response.status_code == 302, "the dead code sends the user back to request a new one"


def test_a_wrong_code_is_a_form_error_that_says_how_many_tries_are_left(client, committing, user):
    request_code(client, committing)
    code = code_in(last_mail_to("alice@example.com"))
    wrong = "000000" if code != "000000" else "111111"
    response = enter(client, wrong)
    assert response.status_code == 200
    assert "That code is not right. 2 tries left." in response.content.decode()
    assert "That code is not right. 1 try left." in enter(client, wrong).content.decode()
    assert SESSION_KEY not in client.session


def test_an_expired_code_is_refused(client, committing, user):
    request_code(client, committing)
    code = code_in(last_mail_to("alice@example.com"))
    six_minutes_later = time.time() + 301
    with mock.patch("allauth.account.internal.flows.code_verification.time.time", return_value=six_minutes_later):
        enter(client, code)
    assert SESSION_KEY not in client.session


def test_a_code_works_once(client, committing, user):
    request_code(client, committing)
    code = code_in(last_mail_to("alice@example.com"))
    enter(client, code)
    client.post("/accounts/logout/")
    response = enter(client, code)
    assert SESSION_KEY not in client.session
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/code/"


def test_a_deactivated_user_cannot_sign_in_with_a_code(client, committing, user):
    user.is_active = False
    user.save()
    request_code(client, committing)
    assert SESSION_KEY not in client.session
    for message in mail.outbox:
        assert not any(word.isdigit() and len(word) == 6 for word in message.body.split())
