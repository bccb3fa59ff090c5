"""One mfa_token answered many times at once: it signs in once, whatever the answers (the challenge
row is locked while allauth checks each one), and nothing answers 500."""

import pytest
from django.test import Client, override_settings

from accounts.models import LoginChallenge, TokenFamily
from tests.accounts.concurrency import at_once
from tests.api.authenticators import enable_totp, recovery_codes
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def post(path, body):
    return Client(raise_request_exception=False).post(path, body, content_type="application/json")


@override_settings(API_RATE_LIMIT_DEFAULT="1000/m")
def test_eight_right_answers_at_once_with_one_mfa_token_sign_in_once(user):
    enable_totp(user)
    codes = recovery_codes(user)  # eight different right answers: a recovery code each
    first = post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD})
    token = first.json()["mfa_token"]

    responses = at_once(8, lambda i: post("/api/login/mfa", {"mfa_token": token, "code": codes[i]}))

    assert [r for r in responses if isinstance(r, Exception)] == []
    assert sorted(r.status_code for r in responses) == [200] + [401] * 7
    assert TokenFamily.objects.count() == 1
    assert LoginChallenge.objects.get().used_at is not None
    unused = user.authenticator_set.get(type="recovery_codes").wrap().get_unused_codes()
    assert len(unused) == 9, "the refused answers spent no recovery code"
