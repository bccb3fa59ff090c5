import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

BILLING_NOTICE = "Billing is not configured on this server"


def test_the_home_page_renders_the_shell_without_queries(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'href="/static/css/gatehouse.css"' in html
    assert '<nav class="nav" aria-label="Main">' in html
    assert '<footer class="site-footer">' in html


def test_the_home_page_for_a_signed_in_user_costs_two_queries(client, user, django_assert_num_queries):
    client.force_login(user)
    # 1. the user row, 2. the subscription with access (nav); the session comes from the cache.
    with django_assert_num_queries(2):
        response = client.get("/")
    assert "alice" in response.content.decode()


@override_settings(STRIPE_SECRET_KEY="")
def test_every_page_says_when_billing_is_not_configured(client):
    assert BILLING_NOTICE in client.get("/").content.decode()


@override_settings(STRIPE_SECRET_KEY="sk_test_configured")
def test_the_billing_notice_is_gone_once_stripe_is_configured(client):
    assert BILLING_NOTICE not in client.get("/").content.decode()


def test_staff_see_the_admin_link_and_others_do_not(client, user, staff):
    client.force_login(user)
    assert 'href="/admin/"' not in client.get("/").content.decode()
    client.force_login(staff)
    assert 'href="/admin/"' in client.get("/").content.decode()


def test_an_unknown_page_is_a_styled_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "We can't find that page" in response.content.decode()


@pytest.mark.urls("tests.urls")
def test_a_crash_is_a_styled_500():
    client = Client(raise_request_exception=False)
    response = client.get("/test/explode")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


@pytest.mark.urls("tests.urls")
def test_a_refusal_is_a_styled_403(client):
    response = client.get("/test/forbidden")
    assert response.status_code == 403
    assert "You can't open this page" in response.content.decode()


@pytest.mark.urls("tests.urls")
def test_a_rate_limited_request_is_a_styled_429_with_retry_after(client):
    assert client.get("/test/limited").status_code == 200
    response = client.get("/test/limited")
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert "Slow down a little" in response.content.decode()


def test_a_form_posted_without_a_csrf_token_is_a_styled_403(csrf_client):
    response = csrf_client.post("/admin/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
