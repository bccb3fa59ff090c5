"""The Stripe Billing Portal hand-off, and the billing history read from dj-stripe's mirrored invoices."""

import re

import pytest
from djstripe.models import Customer, Invoice

from tests.billing.fake_billing import messages_of, subscribe_through_fake, sync_invoice
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MONTH = 31 * 24 * 3600


def paid_months(client, user, fake, months: int) -> list[dict]:
    """alice subscribes, then renews `months - 1` times a month apart; every invoice mirrored in dj-stripe."""
    done, _record = subscribe_through_fake(client, user, fake, "pro-monthly")
    subscription_id = done.subscription["id"]
    for _ in range(months - 1):
        fake.advance_time(MONTH)
        fake.renew(subscription_id)
    invoices = [i for i in fake.all("invoice") if i["customer"] == done.customer["id"]]  # newest first
    for invoice in reversed(invoices):
        sync_invoice(invoice["id"])
    return invoices


# --- portal ----------------------------------------------------------------------------------------


def test_the_portal_button_opens_a_stripe_billing_portal_session(alice, user, fake, settings):
    settings.SITE_URL = "http://testserver"  # the return URL comes from SITE_URL: here the test client's host
    subscribe_through_fake(alice, user, fake)
    fake.requests.clear()

    response = alice.post("/billing/portal/")

    (session,) = fake.all("billing_portal.session")
    assert response.status_code == 302
    assert response["Location"] == session["url"]
    assert session["url"].startswith("https://billing.stripe.com/p/session/")
    (call,) = fake.calls("POST", "/v1/billing_portal/sessions")
    customer = Customer.objects.get(subscriber=user)
    assert call.params == {"customer": customer.id, "return_url": "http://testserver/billing/subscription/"}
    assert session["customer"] == customer.id


def test_the_portals_return_url_comes_from_site_url_not_from_the_host_header(alice, user, fake, settings):
    subscribe_through_fake(alice, user, fake)
    settings.SITE_URL = "https://gatehouse.example.com"
    settings.ALLOWED_HOSTS = ["testserver", "evil.example.com"]
    fake.requests.clear()

    alice.post("/billing/portal/", HTTP_HOST="evil.example.com")

    (call,) = fake.calls("POST", "/v1/billing_portal/sessions")
    assert call.params["return_url"] == "https://gatehouse.example.com/billing/subscription/"


def test_the_portal_without_a_billing_account_explains(alice, fake):
    fake.requests.clear()

    response = alice.post("/billing/portal/", follow=True)

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    assert messages_of(response) == ["You have no billing account yet."]
    assert fake.requests == []


def test_the_portal_uses_only_the_users_own_customer(client, user, fake):
    bob = UserFactory(username="bob")
    client.force_login(bob)
    subscribe_through_fake(client, bob, fake)
    client.force_login(user)

    response = client.post("/billing/portal/", follow=True)

    assert messages_of(response) == ["You have no billing account yet."]
    assert fake.all("billing_portal.session") == []


def test_the_portal_while_stripe_fails_is_a_message(alice, user, fake):
    subscribe_through_fake(alice, user, fake)
    fake.fail_next(500, path_prefix="/v1/billing_portal")

    response = alice.post("/billing/portal/", follow=True)

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    assert messages_of(response) == ["Stripe is having trouble. Please try again in a few minutes."]
    assert fake.all("billing_portal.session") == []


# --- history ---------------------------------------------------------------------------------------


def rows(html: str) -> list[str]:
    return re.findall(r"<tr>\s*<td>.*?</tr>", html, flags=re.S)


def test_the_history_lists_the_users_invoices_newest_first(alice, user, fake):
    invoices = paid_months(alice, user, fake, 3)

    response = alice.get("/billing/history/")

    html = response.content.decode()
    assert response.status_code == 200
    listed = rows(html)
    assert len(listed) == 3
    for row, invoice in zip(listed, invoices, strict=True):  # both newest first
        assert invoice["number"] in row
        assert '<span class="badge">paid</span>' in row
        assert f'<a href="{invoice["hosted_invoice_url"]}">View</a>' in row
        assert f'<a href="{invoice["invoice_pdf"]}">PDF</a>' in row
        assert "<td>$19</td>" in row
        assert "USD" not in row
    assert [i["id"] for i in response.context["invoices"]] == [i["id"] for i in invoices]
    assert [i["billing_reason"] for i in invoices] == [
        "subscription_cycle",
        "subscription_cycle",
        "subscription_create",
    ]
    assert Invoice.objects.filter(customer__subscriber=user).count() == 3


def test_the_history_shows_amounts_in_currency_units(alice, user, fake):
    paid_months(alice, user, fake, 1)

    html = alice.get("/billing/history/").content.decode()

    (row,) = rows(html)
    assert "$19" in row


def test_the_history_shows_only_the_users_own_invoices(client, user, fake):
    bob = UserFactory(username="bob")
    client.force_login(bob)
    paid_months(client, bob, fake, 2)
    client.force_login(user)

    response = client.get("/billing/history/")

    assert "No invoices yet." in response.content.decode()
    assert response.context["invoices"] == []


@pytest.mark.parametrize("months", [1, 5])
def test_the_history_page_costs_the_same_queries_for_1_or_5_invoices(
    alice, user, fake, months, django_assert_num_queries
):
    paid_months(alice, user, fake, months)

    with django_assert_num_queries(3):  # user, invoices, the nav's access check (session: cache)
        response = alice.get("/billing/history/")

    assert len(rows(response.content.decode())) == months
