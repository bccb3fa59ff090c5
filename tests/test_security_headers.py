"""Content-Security-Policy and Permissions-Policy on every response (config/security_headers.py)."""

import re

import pytest
from django.test import RequestFactory

from config.security_headers import CSPNonce, SecurityHeadersMiddleware, content_security_policy, permissions_policy

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        ("/", 200, "text/html"),
        ("/accounts/login/", 200, "text/html"),
        ("/billing/pricing/", 200, "text/html"),
        ("/no-such-page/", 404, "text/html"),
        ("/api/billing/plans", 200, "application/json"),
        ("/api/no-such-endpoint", 404, "application/json"),
        ("/api/schema/", 200, "application/vnd.oai.openapi"),
        ("/healthz", None, "application/json"),
    ],
)
def test_it_sends_both_policies_on_every_kind_of_response(client, path, status, content_type):
    response = client.get(path)
    if status is not None:
        assert response.status_code == status
    assert response["Content-Type"].startswith(content_type)
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"][0] == "'self'"
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions.split(", ")


def test_it_sends_them_on_an_api_error_and_a_post(client, user):
    response = client.post("/api/login", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "Content-Security-Policy" in response.headers
    assert "Permissions-Policy" in response.headers


def test_the_form_action_lets_stripe_and_the_sign_in_providers_receive_the_redirect(client):
    form_action = directives(client.get("/"))["form-action"]
    assert form_action == [
        "'self'",
        "https://checkout.stripe.com",
        "https://billing.stripe.com",
        "https://accounts.google.com",
        "https://github.com",
    ]


def test_the_api_docs_page_allows_only_the_nonce_it_renders(client):
    first, second = client.get("/api/docs/"), client.get("/api/docs/")
    assert first.status_code == 200
    page = first.content.decode()
    inline = re.findall(r"<(script|style) nonce=\"([^\"]+)\">", page)
    assert [tag for tag, _ in inline] == ["style", "script"]
    nonce = inline[0][1]
    assert inline[1][1] == nonce
    assert len(nonce) >= 22
    policy = directives(first)
    assert policy["script-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert policy["style-src"] == ["'self'", f"'nonce-{nonce}'"]
    # A fresh nonce per response, and no inline element without one.
    assert f"'nonce-{nonce}'" not in second["Content-Security-Policy"]
    assert re.search(r"<(script|style)(?![^>]*\b(src|nonce)=)[^>]*>", page) is None


def test_a_page_that_renders_no_nonce_allows_none(client):
    assert "nonce-" not in client.get("/accounts/login/")["Content-Security-Policy"]


def test_a_policy_a_view_set_itself_is_kept():
    def view(request):
        from django.http import HttpResponse

        response = HttpResponse("embedded")
        response["Content-Security-Policy"] = "frame-ancestors https://partner.example"
        return response

    response = SecurityHeadersMiddleware(view)(RequestFactory().get("/"))
    assert response["Content-Security-Policy"] == "frame-ancestors https://partner.example"
    assert response["Permissions-Policy"].startswith("accelerometer=()")


def test_the_nonce_is_made_only_when_rendered_and_then_stays_the_same():
    nonce = CSPNonce()
    assert not nonce.used
    assert content_security_policy({"script-src": ["'self'"]}, nonce) == "script-src 'self'"
    value = str(nonce)
    assert nonce.used
    assert str(nonce) == value
    assert content_security_policy({"script-src": ["'self'"], "img-src": ["'self'"]}, nonce) == (
        f"script-src 'self' 'nonce-{value}'; img-src 'self'"
    )
    assert permissions_policy({"camera": [], "fullscreen": ["self"]}) == "camera=(), fullscreen=(self)"
