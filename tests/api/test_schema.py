"""The published OpenAPI schema: valid, complete for the contract's Auth table, and true to the API.

The last two tests fuzz every operation of the live schema (fetched from the WSGI app, as a client
generator would) with schemathesis, as a signed-in verified user and signed out, and check every
answer against that schema: no 5xx, documented status, content type, headers and body.
"""

import json

import pytest

try:
    import schemathesis
except ImportError as error:  # fail the run loudly, never skip: these checks are part of the suite
    raise ImportError("tests/api/test_schema.py needs schemathesis: pip install -r requirements-dev.txt") from error
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.core.errors import LoaderError
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import tokens
from config.wsgi import application
from tests.api.test_error_map import MFA_REQUIRED_401
from tests.factories import UserFactory

OPENAPI_JSON = "application/vnd.oai.openapi+json"

# The contract's Auth table (api-contract.md): method, path, auth level, success status, listed errors.
AUTH_TABLE = [
    ("POST", "/api/register", "P", 201, {422}),
    ("POST", "/api/login", "P", 200, {401, 403}),
    ("POST", "/api/refresh-token", "P", 200, {401}),
    ("POST", "/api/logout", "B", 204, {401, 403}),
    ("GET", "/api/me", "B", 200, {401}),
    ("GET", "/api/me/security-events", "B", 200, {401, 404}),
    ("PATCH", "/api/me", "A", 200, {422}),
    ("GET", "/api/verify", "P", 202, {401}),
    ("POST", "/api/request/verify", "B", 202, {429}),
    ("POST", "/api/forget-password", "P", 202, {422}),
    ("POST", "/api/new-password", "P", 202, {401, 422}),
    ("POST", "/api/change-password", "A", 200, {403, 422}),
    ("POST", "/api/request/login-code", "P", 200, {422, 429}),
    ("POST", "/api/login/code", "P", 200, {400, 403}),
    ("GET", "/api/google/login", "P", 302, {400}),
    ("GET", "/api/github/login", "P", 302, {400}),
    ("POST", "/api/social/google/token", "P", 200, {401}),
    ("POST", "/api/social/exchange", "P", 200, {401}),
    ("POST", "/api/deactivate", "A", 202, {403}),
    # Issue 16: the second step of a sign-in, and passkey sign-in.
    ("POST", "/api/login/mfa", "P", 200, {401, 403, 422, 429}),
    ("POST", "/api/login/mfa/webauthn", "P", 200, {400, 401, 422}),
    ("POST", "/api/login/passkey/options", "P", 200, set()),
    ("POST", "/api/login/passkey", "P", 200, {401, 403, 422, 429}),
]
# Conventions: B routes answer 401 without a live token, A routes also 403 to the unverified;
# every /api/ route is rate limited (429).
LEVEL_ERRORS = {"P": set(), "B": {401}, "A": {401, 403}}


def load_live_schema(**generation):
    """The schema as the app serves it, loaded at import so that every operation is its own test item.

    A load failure is kept and reported by the tests below: raised here, it would be a collection
    error, and pytest would run none of the suite's other tests.
    """
    try:
        loaded = schemathesis.openapi.from_wsgi("/api/schema/", application)
    except LoaderError as error:
        return None, error
    loaded.config.generation.update(**generation)
    return loaded, None


schema, load_error = load_live_schema()
# The same schema for signed-out callers: no Authorization header is ever generated.
anonymous_schema, _ = load_live_schema(with_security_parameters=False)


def over_every_operation(loaded):
    """schemathesis's per-operation parametrisation; one failing test when the schema did not load."""
    if loaded is not None:
        return loaded.parametrize()

    def replace(test):
        def schema_did_not_load():
            pytest.fail(f"schemathesis could not load /api/schema/: {load_error}")

        return schema_did_not_load

    return replace


@pytest.fixture(scope="module")
def openapi():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON)
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_schema_endpoint_serves_valid_openapi_3(openapi):
    yaml = APIClient().get("/api/schema/")
    assert yaml.status_code == 200
    assert yaml["Content-Type"].startswith("application/vnd.oai.openapi")
    assert openapi["openapi"].startswith("3.")
    assert openapi["info"]["title"] == "Gatehouse API"
    validate_schema(openapi)  # drf-spectacular's bundled OpenAPI 3 JSON Schema
    # schemathesis loads it and resolves every operation (references, parameters, bodies).
    assert load_error is None, load_error
    operations = list(schema.get_all_operations())
    assert operations
    assert all(isinstance(result, Ok) for result in operations), [r.err() for r in operations if not isinstance(r, Ok)]


def test_the_docs_page_is_html_pointing_at_the_schema():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "swagger" in body.lower()
    assert "/api/schema/" in body


@pytest.mark.parametrize(
    ("method", "path", "level", "success", "errors"), AUTH_TABLE, ids=[f"{row[0]} {row[1]}" for row in AUTH_TABLE]
)
def test_every_auth_route_documents_the_contracts_statuses(openapi, method, path, level, success, errors):
    assert path in openapi["paths"], f"{path} is missing from the schema"
    operation = openapi["paths"][path].get(method.lower())
    assert operation is not None, f"{method} {path} is missing from the schema"
    responses = operation["responses"]
    expected = {success, 429} | errors | LEVEL_ERRORS[level]
    assert expected <= {int(code) for code in responses}, f"undocumented: {expected - set(map(int, responses))}"
    for code in expected - {success}:
        content = responses[str(code)]["content"]["application/json"]["schema"]
        body = "Errors" if code == 422 else "MfaRequired" if (code, path) in MFA_REQUIRED_401 else "Detail"
        assert content == {"$ref": "#/components/schemas/" + body}, code
    # Public routes may be called without a token; B and A routes need the bearer scheme.
    security = operation.get("security", [])
    if level == "P":
        assert {} in security, security
    else:
        assert security == [{"bearerAuth": []}], security


def test_the_error_bodies_are_documented_as_the_contract_shapes_them(openapi):
    components = openapi["components"]["schemas"]
    assert components["Detail"]["properties"] == {"detail": {"type": "string"}}
    assert components["Detail"]["required"] == ["detail"]
    errors = components["Errors"]["properties"]["errors"]
    assert errors["type"] == "object"
    assert errors["additionalProperties"] == {"type": "string"}
    assert components["Errors"]["required"] == ["errors"]
    assert openapi["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def not_a_server_error_but_a_documented_503(ctx, response, case):
    """No 5xx, but the contract's 503 (billing not configured, Stripe unreachable) where documented."""
    if response.status_code == 503 and "503" in case.operation.responses.status_codes:
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    not_a_server_error_but_a_documented_503,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Like Django's test client: the real WSGI handler would close the connection after each request,
    ending the test's transaction (PostgreSQL; in-memory SQLite is never closed)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# What the fuzzer found wrong outside the files this test may touch: reported, not fixed here.
# Strict: once fixed, the test XPASSes and fails until its entry is removed.
SIGNED_IN = "test_every_operation_answers_as_its_schema_says"
SIGNED_OUT = "test_every_operation_answers_signed_out_callers_as_its_schema_says"
KNOWN_BUGS: dict[str, str] = {}


@pytest.fixture
def known_bugs(request):
    if request.node.name in KNOWN_BUGS:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[request.node.name]))


@pytest.fixture
def fresh_bearer(db):
    """A new login of a verified user per call: logout and deactivate can't starve later examples."""
    user = UserFactory(username="fuzzer", email="fuzzer@example.com")
    return lambda: tokens.start_login(user).access


FUZZ_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays deterministic
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# A real WSGI server always sets REMOTE_ADDR; allauth's per-IP limits refuse a request without it.
CLIENT_IP = {"REMOTE_ADDR": "127.0.0.1"}


@pytest.mark.django_db
@over_every_operation(schema)
@FUZZ_SETTINGS
def test_every_operation_answers_as_its_schema_says(case, fresh_bearer, wsgi_keeps_the_test_connection, known_bugs):
    # Generous limits: the fuzzer's hundreds of calls must reach the views, not the rate limiter.
    with override_settings(API_RATE_LIMIT_DEFAULT="100000/m"):
        case.call_and_validate(
            headers={"Authorization": f"Bearer {fresh_bearer()}"}, checks=CHECKS, environ_base=CLIENT_IP
        )


@pytest.mark.django_db
@over_every_operation(anonymous_schema)
@FUZZ_SETTINGS
def test_every_operation_answers_signed_out_callers_as_its_schema_says(
    case, wsgi_keeps_the_test_connection, known_bugs
):
    # Public routes as a signed-out app uses them; bearer routes refused with their documented 401.
    with override_settings(API_RATE_LIMIT_DEFAULT="100000/m"):
        case.call_and_validate(checks=CHECKS, environ_base=CLIENT_IP)
