"""Without Stripe keys every billing page still works and says billing is not configured."""

import pytest
from django.test import override_settings

from billing.models import Plan

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("unconfigured")]


@pytest.fixture
def unconfigured(settings):
    settings.STRIPE_SECRET_KEY = ""


def test_pricing_lists_the_active_plans_for_everyone(client, django_assert_num_queries):
    Plan.objects.filter(code="business-monthly").update(is_active=False)
    with django_assert_num_queries(1):  # the active plans
        response = client.get("/billing/pricing/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Pro" in html
    assert '<p class="price">$19 <span class="per">/ month</span></p>' in html
    assert "Business" not in html
    assert "Paid plans are not available yet." in html
    assert "Billing is not configured on this server" not in html  # the operator's words, for staff only
    assert html.count("Paid plans are not available yet.") == 2  # the page's notice and the Pro card's reason


def test_subscribing_says_billing_is_not_configured(client, user):
    client.force_login(user)
    response = client.post("/billing/subscribe/", {"plan": "pro-monthly"}, follow=True)
    assert response.redirect_chain == [("/billing/pricing/", 302)]
    assert "Billing is not configured on this server." in response.content.decode()


def test_opening_the_subscribe_url_says_plans_are_not_on_sale_yet(client, user):
    client.force_login(user)

    response = client.get("/billing/subscribe/", follow=True)

    assert response.redirect_chain == [("/billing/pricing/", 302)]
    assert [str(m) for m in response.context["messages"]] == ["Plans go on sale once billing is configured."]


def test_the_subscription_page_shows_the_free_plan(client, user, django_assert_num_queries):
    client.force_login(user)
    # user, subscription with access (nav), latest subscription, active plans (session: cache)
    with django_assert_num_queries(4):
        response = client.get("/billing/subscription/")
    assert response.status_code == 200
    assert "You are on the free plan." in response.content.decode()


def test_billing_history_is_empty_without_invoices(client, user, django_assert_num_queries):
    client.force_login(user)
    with django_assert_num_queries(3):  # user, subscription with access (nav), invoices
        response = client.get("/billing/history/")
    assert "No invoices yet." in response.content.decode()


def test_the_payment_portal_without_a_customer_explains(client, user):
    client.force_login(user)
    response = client.post("/billing/portal/", follow=True)
    assert "You have no billing account yet." in response.content.decode()


def test_the_gated_page_sends_free_users_to_pricing(client, user):
    client.force_login(user)
    response = client.get("/billing/reports/", follow=True)
    assert response.redirect_chain == [("/billing/pricing/?needs=pro", 302)]
    assert "This page is part of the Pro plan and above." in response.content.decode()


def test_the_gated_page_asks_anonymous_visitors_to_sign_in(client):
    response = client.get("/billing/reports/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/billing/reports/")


def test_billing_pages_need_a_signed_in_user(client):
    for path in ("/billing/subscription/", "/billing/history/"):
        assert client.get(path)["Location"].startswith("/accounts/login/")


@override_settings(STRIPE_SECRET_KEY="sk_test_configured")
def test_the_notice_is_gone_when_configured(client):
    assert "Billing is not configured" not in client.get("/billing/pricing/").content.decode()
