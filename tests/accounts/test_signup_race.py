"""Twelve portal sign-ups with one address at once: one account, every answer the form's usual one."""

import pytest
from django.test import Client

from accounts.models import Profile, User
from tests.accounts.concurrency import at_once

PASSWORD = "a-long-and-unusual-passphrase-42"


@pytest.fixture(autouse=True)
def _signup_limit_out_of_the_way(settings):
    """These races are about the database, not the per-IP sign-up limit (20/m): the two tests' 24
    sign-ups from one address within a minute would otherwise meet a 429 (CI saw one)."""
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "1000/m/ip"}


def sign_up(i):
    client = Client(raise_request_exception=False)
    data = {"email": "race@example.com", "username": f"racer{i}", "password1": PASSWORD, "password2": PASSWORD}
    return client.post("/accounts/signup/", data)


@pytest.mark.django_db(transaction=True)
def test_it_answers_racing_portal_sign_ups_of_one_email_like_a_taken_one_never_a_500():
    responses = at_once(12, sign_up)
    assert [r for r in responses if isinstance(r, Exception)] == []
    # A fresh sign-up and a taken address look alike: "verification sent" (enumeration prevention).
    assert [r.status_code for r in responses] == [302] * 12
    assert {r["Location"] for r in responses} == {"/accounts/confirm-email/"}
    user = User.objects.get(email="race@example.com")
    assert Profile.objects.filter(user=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_answers_racing_portal_sign_ups_of_one_username_with_a_form_answer_never_a_500():
    def sign_up_as_racer(i):
        data = {"email": f"racer{i}@example.com", "username": "racer", "password1": PASSWORD, "password2": PASSWORD}
        return Client(raise_request_exception=False).post("/accounts/signup/", data)

    responses = at_once(12, sign_up_as_racer)
    assert [r for r in responses if isinstance(r, Exception)] == []
    # The winner is sent to "verification sent"; the others see the username refused: the form's
    # error (200) or, when the insert lost the race, the sign-up page again with that message (302).
    assert all(r.status_code in (200, 302) for r in responses), [r.status_code for r in responses]
    locations = [r["Location"] for r in responses if r.status_code == 302]
    assert locations.count("/accounts/confirm-email/") == 1
    assert set(locations) <= {"/accounts/confirm-email/", "/accounts/signup/"}
    assert User.objects.filter(username="racer").count() == 1
