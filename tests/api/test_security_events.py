"""GET /api/me/security-events: the caller's security history, newest first, paginated."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import SecurityEvent
from tests.api.conftest import bearer, login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/me/security-events"
Kind = SecurityEvent.Kind


def history(user, count: int):
    now = timezone.now()
    for i in range(count):
        SecurityEvent.objects.create(
            user=user, kind=Kind.SIGN_IN_FAILED, created_at=now - timedelta(hours=i + 1), detail=f"#{i}"
        )


def test_it_lists_the_callers_events_newest_first_in_the_contracts_shape(user):
    history(user, 2)
    history(UserFactory(username="mallory"), 3)  # someone else's history stays theirs
    api = bearer(APIClient(HTTP_USER_AGENT="GatehouseApp/2.1 (Android 14)"), login(APIClient())["token"])
    response = api.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (3, None, None)
    newest, *older = body["results"]
    assert newest["kind"] == "signed_in"  # the login just made
    assert newest["description"] == "Signed in"
    assert newest["method"] == "App, password"
    assert newest["ip"] == "127.0.0.1"
    assert [event["detail"] for event in older] == ["#0", "#1"]
    assert set(newest) == {"id", "kind", "description", "created_at", "ip", "device", "method", "detail"}


def test_it_pages_by_twenty_and_answers_404_past_the_end(user):
    history(user, 45)
    api = bearer(APIClient(), login(APIClient())["token"])
    first = api.get(URL).json()
    assert (first["count"], len(first["results"])) == (46, 20)
    assert first["next"].endswith(f"{URL}?page=2")
    third = api.get(URL, {"page": 3}).json()
    assert len(third["results"]) == 6
    assert third["next"] is None
    assert len(api.get(URL, {"page_size": 100}).json()["results"]) == 46
    missing = api.get(URL, {"page": 9})
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No such page."}
    assert api.get(URL, {"page": "x"}).status_code == 404


def test_it_needs_a_bearer_and_an_unverified_user_may_read_theirs(unverified_user):
    assert APIClient().get(URL).status_code == 401
    api = bearer(APIClient(), login(APIClient(), "newbie")["token"])
    assert api.get(URL).status_code == 200
