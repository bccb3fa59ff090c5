"""The portal's code login (allauth's, its state in the session) under concurrent guesses in one session."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from tests.accounts.concurrency import at_once
from tests.accounts.mail import code_in, last_mail_to

pytestmark = pytest.mark.django_db(transaction=True)


def test_twelve_concurrent_wrong_codes_in_one_session_leave_no_500_and_the_right_code_refused(user):
    client = Client()
    assert client.post("/accounts/login/code/", {"email": "alice@example.com"}).status_code == 302
    code = code_in(last_mail_to("alice@example.com"))
    wrong = "000000" if code != "000000" else "111111"

    def guess(i):
        guesser = Client(raise_request_exception=False)
        guesser.cookies = client.cookies  # the same session, as one attacker's browser
        return guesser.post("/accounts/login/code/confirm/", {"code": wrong})

    responses = at_once(12, guess)
    assert [r for r in responses if isinstance(r, Exception)] == []
    assert all(r.status_code in (200, 302) for r in responses), [r.status_code for r in responses]
    client.post("/accounts/login/code/confirm/", {"code": code})
    assert SESSION_KEY not in client.session, "the right code signed in after more than the allowed wrong tries"
