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
