import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

OPERATOR_NOTICE = "billing is not configured; payments are off"
CUSTOMER_NOTICE = "Paid plans are not available yet."


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
def test_it_tells_staff_on_every_page_that_billing_is_not_configured(client, staff):
    client.force_login(staff)
    for path in ("/", "/accounts/profile/", "/billing/pricing/"):
        assert OPERATOR_NOTICE in client.get(path).content.decode()


@override_settings(STRIPE_SECRET_KEY="")
def test_it_spares_customers_the_operator_notice_and_says_paid_plans_are_not_available_where_it_matters(client, user):
    assert OPERATOR_NOTICE not in client.get("/").content.decode()
    client.force_login(user)
    for path in ("/", "/accounts/profile/", "/billing/history/"):
        html = client.get(path).content.decode()
        assert OPERATOR_NOTICE not in html
        assert CUSTOMER_NOTICE not in html
    for path in ("/billing/pricing/", "/billing/subscription/"):
        html = client.get(path).content.decode()
        assert OPERATOR_NOTICE not in html
        assert CUSTOMER_NOTICE in html


@override_settings(STRIPE_SECRET_KEY="sk_test_configured")
def test_the_billing_notices_are_gone_once_stripe_is_configured(client, staff):
    client.force_login(staff)
    html = client.get("/billing/pricing/").content.decode()
    assert OPERATOR_NOTICE not in html
    assert CUSTOMER_NOTICE not in html


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


# --- issue 15 item 11: the addresses a visitor's browser or fingers try ---------------------------


def test_it_answers_favicon_ico_with_the_icon(client):
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/img/favicon.ico"
    assert "max-age=86400" in response["Cache-Control"]
    with open(finders.find("img/favicon.ico"), "rb") as icon:
        assert icon.read(4) == b"\x00\x00\x01\x00"  # an ICO header (served in Chromium: tests/e2e/test_shell.py)


def test_every_page_links_its_icon(client):
    html = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in html


def test_the_footer_links_a_status_page_in_words_not_the_monitoring_json(client, django_assert_num_queries):
    assert 'href="/status/">Service status</a>' in client.get("/").content.decode()
    response = client.get("/status/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "Everything is working." in html
    assert "Email delivery" in html
    assert "unavailable (" not in html  # no error text or service kinds for the public


@pytest.mark.parametrize("path", ["/pricing/", "/billing/", "/pricing"])
def test_it_sends_guessed_pricing_addresses_to_the_pricing_page(client, path):
    response = client.get(path, follow=True)
    assert response.redirect_chain[-1] == ("/billing/pricing/", 302)
    assert response.status_code == 200


@pytest.mark.urls("tests.urls")
def test_the_500_page_quotes_the_request_id_for_support():
    client = Client(raise_request_exception=False)
    response = client.get("/test/explode", headers={"X-Request-ID": "req-4711-abcdef"})
    assert response.status_code == 500
    assert response["X-Request-ID"] == "req-4711-abcdef"
    assert '<code class="request-id">req-4711-abcdef</code>' in response.content.decode()


# --- issue 15 item 8: flash messages keep list semantics; the live region is around the list ------


def test_it_renders_flash_messages_as_a_plain_list_inside_a_status_region(client, user):
    client.force_login(user)
    html = client.get("/billing/reports/", follow=True).content.decode()
    assert '<div class="messages" role="status">' in html
    assert '<ul role="status"' not in html
    assert 'class="messages" role="status">\n        <ul>' in html
    assert '<li class="notice notice-info">This page is part of the Pro plan and above.</li>' in html


def test_every_page_loads_the_portal_script_deferred(client):
    assert '<script src="/static/js/gatehouse.js" defer></script>' in client.get("/").content.decode()
