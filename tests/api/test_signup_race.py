"""Twenty sign-ups with one address at once: one account, the rest the normal "already taken" answer."""

import pytest
from django.test import Client

from accounts.models import Profile, User
from tests.accounts.concurrency import at_once

PASSWORD = "a-long-and-unusual-passphrase-42"


def register(i, email="race@example.com", username=None):
    client = Client(raise_request_exception=False)
    data = {"email": email, "username": username or f"racer{i}", "password": PASSWORD}
    return client.post("/api/register", data, content_type="application/json")


@pytest.mark.django_db(transaction=True)
def test_it_answers_racing_registrations_of_one_email_with_one_201_and_422s_never_a_500():
    responses = at_once(20, register)
    errors = [r for r in responses if isinstance(r, Exception)]
    assert errors == []
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * 19
    for response in responses:
        if response.status_code == 422:
            assert response.json() == {"errors": {"email": "This email address is already taken."}}
    user = User.objects.get(email="race@example.com")
    assert Profile.objects.filter(user=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_answers_racing_registrations_of_one_username_with_one_201_and_422s():
    responses = at_once(12, lambda i: register(i, email=f"racer{i}@example.com", username="racer"))
    assert sorted(r.status_code for r in responses) == [201] + [422] * 11
    for response in responses:
        if response.status_code == 422:
            assert response.json() == {"errors": {"username": "This username is already taken."}}
    assert User.objects.filter(username="racer").count() == 1
