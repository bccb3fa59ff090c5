"""The production API limit (5/min) against the real cache (Redis in CI)."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.api.conftest import bearer, login
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.real_rate_limits]


def hit(api, times, path="/api/forget-password", **extra):
    return [api.post(path, {"email": "x@example.com"}, format="json", **extra) for _ in range(times)]


def test_the_sixth_request_in_a_minute_is_429_with_retry_after(api):
    responses = hit(api, 6)
    assert [r.status_code for r in responses] == [202] * 5 + [429]
    limited = responses[-1]
    assert limited.json() == {"detail": "Too many requests. Try again later."}
    assert 1 <= int(limited["Retry-After"]) <= 60


def test_each_client_ip_has_its_own_bucket(api):
    hit(api, 5, REMOTE_ADDR="10.0.0.1")
    assert hit(api, 1, REMOTE_ADDR="10.0.0.1")[0].status_code == 429
    assert hit(api, 1, REMOTE_ADDR="10.0.0.2")[0].status_code == 202


def test_each_endpoint_counts_separately(api):
    hit(api, 5)
    assert api.post("/api/request/login-code", {"email": "x@example.com"}, format="json").status_code == 200


def test_each_token_holder_has_its_own_bucket_behind_one_ip(db):
    UserFactory(username="alice", email="alice@example.com")
    UserFactory(username="bob", email="bob@example.com")
    with override_settings(API_RATE_LIMIT_DEFAULT="1000/m"):
        alice = login(APIClient(), "alice")
        bob = login(APIClient(), "bob")
    alice_api, bob_api = bearer(APIClient(), alice["token"]), bearer(APIClient(), bob["token"])
    assert [alice_api.get("/api/me").status_code for _ in range(6)] == [200] * 5 + [429]
    assert bob_api.get("/api/me").status_code == 200


def test_a_made_up_authorization_header_does_not_escape_the_ip_bucket(api):
    for index in range(5):
        api.post(
            "/api/forget-password", {"email": "x@example.com"}, format="json", HTTP_AUTHORIZATION=f"Bearer junk{index}"
        )
    response = api.post(
        "/api/forget-password", {"email": "x@example.com"}, format="json", HTTP_AUTHORIZATION="Bearer junk-x"
    )
    assert response.status_code == 429


def test_a_forged_forwarded_for_header_is_ignored_without_trusted_proxies(api):
    for index in range(5):
        hit(api, 1, HTTP_X_FORWARDED_FOR=f"198.51.100.{index}")
    assert hit(api, 1, HTTP_X_FORWARDED_FOR="198.51.100.99")[0].status_code == 429


@override_settings(ALLAUTH_TRUSTED_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_the_forwarded_client_is_the_key(api):
    hit(api, 5, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert hit(api, 1, HTTP_X_FORWARDED_FOR="203.0.113.7")[0].status_code == 429
    assert hit(api, 1, HTTP_X_FORWARDED_FOR="203.0.113.8")[0].status_code == 202


@override_settings(API_RATE_LIMITS={"api-login": "2/m"})
def test_limits_are_configurable_per_endpoint(api):
    UserFactory(username="alice", email="alice@example.com")
    statuses = [
        api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_the_schema_and_docs_are_not_limited(api):
    assert {api.get("/api/schema/").status_code for _ in range(7)} == {200}
