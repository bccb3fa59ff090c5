"""Bad input never makes a 500: every shape of nonsense gets a clear 4xx in the contract's shape."""

import json

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db


def post_raw(api, path, body, content_type="application/json"):
    return api.generic("POST", path, body, content_type=content_type)


def test_malformed_json_is_400_with_a_message(api, db):
    response = post_raw(api, "/api/register", '{"email": "a@example.com", ')
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Malformed request body: JSON parse error")


def test_invalid_utf8_is_400(api, db):
    response = post_raw(api, "/api/login", b'{"email": "\xff\xfe"}')
    assert response.status_code == 400
    assert "detail" in response.json()


def test_a_wrong_content_type_is_415(api, db):
    response = post_raw(api, "/api/login", "email=a&password=b", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json() == {"detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'}


def test_a_huge_body_is_413_without_reading_it_all(api, db):
    body = json.dumps({"email": "a@example.com", "username": "a", "password": "x" * (200 * 1024)})
    response = post_raw(api, "/api/register", body)
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is too large."}
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"email": True, "password": "x"}, "email", "Not a valid string."),
        ({"email": ["a"], "password": "x"}, "email", "Not a valid string."),
        ({"email": "a@example.com", "password": {"nested": 1}}, "password", "Not a valid string."),
        ({"email": "a@example.com", "password": None}, "password", "This field may not be null."),
        ({"email": "a\x00b", "password": "x"}, "email", "Null characters are not allowed."),
    ],
)
def test_wrong_types_are_422_per_field(api, db, payload, field, message):
    response = api.post("/api/login", payload, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][field] == message


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null"])
def test_a_body_that_is_not_an_object_is_422(api, db, body):
    response = post_raw(api, "/api/login", body)
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"__all__"} or set(response.json()["errors"]) == {"email", "password"}


def test_an_empty_body_names_the_missing_fields(api, db):
    response = post_raw(api, "/api/login", "")
    assert response.status_code == 422
    assert response.json() == {"errors": {"email": "This field is required.", "password": "This field is required."}}


def test_an_unknown_path_under_api_is_404(api, db):
    assert api.get("/api/nope").status_code == 404


def test_a_wrong_method_is_405_json(api, db):
    response = api.get("/api/login")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "GET" not allowed.'}


def test_overlong_fields_are_422(api, db):
    response = api.post(
        "/api/register", {"email": "a" * 300 + "@example.com", "username": "u" * 200, "password": "p"}, format="json"
    )
    assert response.status_code == 422
    assert {"email", "username"} <= set(response.json()["errors"])


DEEPLY_NESTED = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("path", ["/api/login", "/api/register", "/api/refresh-token", "/api/login/code"])
def test_it_answers_400_json_to_deeply_nested_json_on_a_public_endpoint(api, db, path):
    response = post_raw(api, path, DEEPLY_NESTED)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Malformed request body: JSON is nested too deeply."}


def test_it_answers_400_json_to_deeply_nested_json_from_a_signed_in_caller(api, user):
    from tests.api.conftest import bearer, login

    bearer(api, login(api)["token"])
    for method, path in [
        ("PATCH", "/api/me"),
        ("POST", "/api/change-password"),
        ("POST", "/api/billing/subscriptions/subscribe"),
        ("POST", "/api/billing/subscriptions/upgrade"),
        ("POST", "/api/logout"),
    ]:
        response = api.generic(method, path, DEEPLY_NESTED, content_type="application/json")
        assert response.status_code == 400, path
        assert response.json() == {"detail": "Malformed request body: JSON is nested too deeply."}
    assert api.get("/api/me").status_code == 200  # the refusal ended nothing


def test_it_refuses_nesting_deeper_than_the_limit_even_when_python_could_parse_it(api, db):
    body = '{"email": ' + "[" * 100 + "]" * 100 + ', "password": "x"}'
    response = post_raw(api, "/api/login", body)
    assert response.status_code == 400
    assert response.json() == {"detail": "Malformed request body: JSON is nested too deeply."}


def test_it_still_parses_ordinarily_nested_json(api, db):
    body = json.dumps({"email": "a@example.com", "password": "x", "extra": {"a": [[{"b": [1]}]]}})
    assert post_raw(api, "/api/login", body).status_code == 401
