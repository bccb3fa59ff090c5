"""Twelve code guesses at once: only the allowed number of wrong tries counts, none is a 500, and the
right code is refused once they are used up (one conditional UPDATE per try; SQLite has no row locks)."""

import pytest
from allauth.account import app_settings as allauth_settings
from django.test import Client

from accounts.models import LoginCode
from tests.accounts.concurrency import at_once
from tests.accounts.mail import code_in, last_mail_to

pytestmark = pytest.mark.django_db(transaction=True)


def guess(code, email="alice@example.com"):
    client = Client(raise_request_exception=False)
    return client.post("/api/login/code", {"email": email, "code": code}, content_type="application/json")


def mailed_code(email="alice@example.com"):
    response = Client().post("/api/request/login-code", {"email": email}, content_type="application/json")
    assert response.status_code == 200
    return code_in(last_mail_to(email))


def test_it_counts_only_max_attempts_of_twelve_concurrent_wrong_guesses_and_then_refuses_the_right_code(user):
    code = mailed_code()
    wrong = "000000" if code != "000000" else "111111"
    responses = at_once(12, lambda i: guess(wrong))
    assert [r for r in responses if isinstance(r, Exception)] == []
    assert [r.status_code for r in responses] == [400] * 12
    assert {r.json()["detail"] for r in responses} == {"Invalid code or email."}
    login_code = LoginCode.objects.get(user=user)
    assert login_code.attempts == allauth_settings.LOGIN_BY_CODE_MAX_ATTEMPTS
    assert login_code.used_at is not None, "the try that reached the limit killed the code"

    response = guess(code)
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid code or email."}


def test_it_signs_in_once_when_the_right_code_arrives_twelve_times_at_once(user):
    code = mailed_code()
    responses = at_once(12, lambda i: guess(code))
    assert [r for r in responses if isinstance(r, Exception)] == []
    assert sorted(r.status_code for r in responses) == [200] + [400] * 11
