import pytest
from django.test import override_settings
from rest_framework.test import APIClient


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture(autouse=True)
def _generous_api_limits(request):
    """Most API tests make more than 5 calls a minute; the rate-limit tests opt back in."""
    if request.node.get_closest_marker("real_rate_limits"):
        yield
        return
    with override_settings(API_RATE_LIMIT_DEFAULT="1000/m"):
        yield


def login(api, login="alice", password=None):
    from tests.factories import DEFAULT_PASSWORD

    response = api.post("/api/login", {"email": login, "password": password or DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def bearer(api, token):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def login_with_second_factor(api, login="alice", *, code, password=None):
    """A sign-in of an account with a second factor: the password, mfa_required, then ``code``."""
    from tests.factories import DEFAULT_PASSWORD

    first = api.post("/api/login", {"email": login, "password": password or DEFAULT_PASSWORD}, format="json")
    assert first.status_code == 401, first.content
    assert first.json()["detail"] == "mfa_required"
    response = api.post("/api/login/mfa", {"mfa_token": first.json()["mfa_token"], "code": code}, format="json")
    assert response.status_code == 200, response.content
    return response.json()
