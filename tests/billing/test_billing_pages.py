"""Billing pages with billing configured: their query counts stay flat as plans grow, and the gated page
opens by tier. None of these pages calls Stripe."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import Plan, Subscription, SubscriptionStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(fake_stripe_settings):
    return fake_stripe_settings


def with_plans(total: int) -> None:
    """Bring the active plans (3 demo plans to start with) up to `total`, the paid ones synced-looking."""
    for code in ("pro-monthly", "business-monthly"):
        Plan.objects.filter(code=code).update(stripe_product_id=f"prod_{code}", stripe_price_id=f"price_{code}")
    for n in range(total - Plan.objects.active().count()):
        Plan.objects.create(
            code=f"extra-{n}",
            name=f"Extra {n}",
            tier="pro",
            price_cents=1000 + n,
            features=["One", "Two"],
            stripe_product_id=f"prod_extra{n}",
            stripe_price_id=f"price_extra{n}",
        )
    assert Plan.objects.active().count() == total


def subscribe(user, code="pro-monthly", status=SubscriptionStatus.ACTIVE, ends_in=timedelta(days=20)):
    return Subscription.objects.create(
        user=user,
        plan=Plan.objects.get(code=code),
        stripe_subscription_id=f"sub_{user.pk}_{code}",
        stripe_customer_id=f"cus_{user.pk}",
        status=status,
        current_period_start=timezone.now() - timedelta(days=10),
        current_period_end=timezone.now() + ends_in,
    )


# --- query counts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("plans", [3, 10])
def test_pricing_for_a_subscriber_costs_three_queries_however_many_plans(
    client, user, fake, plans, django_assert_num_queries
):
    with_plans(plans)
    subscribe(user)
    client.force_login(user)

    # user, the subscription with access (read once: page and nav), the active plans (session: cache)
    with django_assert_num_queries(3):
        response = client.get("/billing/pricing/")

    html = response.content.decode()
    assert html.count('class="card plan') == plans
    assert "Your current plan" in html
    assert "Switch to Business" in html
    assert fake.requests == []


@pytest.mark.parametrize("plans", [3, 10])
def test_pricing_for_a_visitor_costs_one_query_however_many_plans(client, fake, plans, django_assert_num_queries):
    with_plans(plans)

    with django_assert_num_queries(1):  # the active plans
        response = client.get("/billing/pricing/")

    assert response.content.decode().count('class="card plan') == plans


@pytest.mark.parametrize("plans", [3, 10])
def test_the_subscription_page_costs_three_queries_however_many_plans(
    client, user, fake, plans, django_assert_num_queries
):
    with_plans(plans)
    subscribe(user)
    client.force_login(user)

    # user, the subscription with access (+ plan; the page's and the nav's), active plans (session: Redis)
    with django_assert_num_queries(3):
        response = client.get("/billing/subscription/")

    html = response.content.decode()
    assert "<h2>Pro</h2>" in html
    assert "Renews on" in html
    assert len(response.context["other_plans"]) == plans - 2  # not Free, not the current one
    assert html.count('href="/billing/subscription/change/?plan=') == plans - 2
    assert fake.requests == []


def test_the_subscription_page_of_a_past_due_subscriber_asks_for_a_new_card(client, user, fake):
    subscribe(user, status=SubscriptionStatus.PAST_DUE)
    client.force_login(user)

    html = client.get("/billing/subscription/").content.decode()

    assert "Your last payment failed." in html
    # No invoice mirrored to link: Stripe's billing portal is the way to pay, so it is the primary button.
    assert '<button type="submit">Update payment method</button>' in html
    assert "Payment method and invoices" not in html
    assert "/billing/subscription/change/" not in html


def test_the_subscription_page_shows_the_subscription_with_access_over_a_newer_unpaid_one(client, user, fake):
    subscribe(user, "pro-monthly")
    subscribe(user, "business-monthly", status=SubscriptionStatus.INCOMPLETE)  # a Checkout left unpaid, later
    client.force_login(user)

    response = client.get("/billing/subscription/")

    assert response.context["subscription"].plan.code == "pro-monthly"
    assert "<h2>Pro</h2>" in response.content.decode()


def test_the_subscription_page_without_access_shows_the_newest_subscription(client, user, fake):
    subscribe(user, "pro-monthly", status=SubscriptionStatus.CANCELED, ends_in=-timedelta(days=40))
    subscribe(user, "business-monthly", status=SubscriptionStatus.CANCELED, ends_in=-timedelta(days=1))
    client.force_login(user)

    response = client.get("/billing/subscription/")

    assert response.context["subscription"].plan.code == "business-monthly"


def test_the_subscription_page_after_the_end_offers_no_actions(client, user, fake):
    subscribe(user, status=SubscriptionStatus.CANCELED, ends_in=-timedelta(days=1))
    client.force_login(user)

    html = client.get("/billing/subscription/").content.decode()

    assert "Access ends" not in html  # it has ended (tests/billing/test_subscription_page_states.py)
    assert "See the plans</a> to subscribe again" in html
    assert "Cancel at period end" not in html
    assert "Change plan" not in html


# --- the gated page ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["pro-monthly", "business-monthly"])
def test_the_reports_page_opens_for_pro_and_business_subscribers(client, user, fake, code):
    subscribe(user, code)
    client.force_login(user)

    response = client.get("/billing/reports/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Usage reports</h1>" in html
    assert 'href="/billing/reports/" aria-current="page">Reports</a>' in html


def test_the_reports_page_stays_shut_for_free_users(client, user, fake):
    client.force_login(user)

    response = client.get("/billing/reports/", follow=True)

    assert response.redirect_chain == [("/billing/pricing/?needs=pro", 302)]
    html = response.content.decode()
    assert "This page is part of the Pro plan and above." in html
    assert 'href="/billing/reports/"' not in html  # no nav link either


@pytest.mark.parametrize(
    ("status", "ends_in"),
    [
        (SubscriptionStatus.CANCELED, timedelta(days=5)),
        (SubscriptionStatus.INCOMPLETE, timedelta(days=5)),
        (SubscriptionStatus.ACTIVE, -timedelta(days=3)),  # a lost webhook: past the period and the grace
    ],
)
def test_the_reports_page_stays_shut_without_current_access(client, user, fake, status, ends_in):
    subscribe(user, status=status, ends_in=ends_in)
    client.force_login(user)

    response = client.get("/billing/reports/")

    assert response.status_code == 302
    assert response["Location"] == "/billing/pricing/?needs=pro"


def test_one_users_subscription_does_not_open_the_page_for_another(client, user, fake):
    subscribe(UserFactory(username="bob"), "business-monthly")
    client.force_login(user)

    assert client.get("/billing/reports/").status_code == 302


# --- a form's target opened with GET (a reload, a bookmark, the URL typed in) ---------------------------


def free(user):
    return None


def scheduled_to_end(user):
    subscribe(user)
    Subscription.objects.filter(user=user).update(cancel_at_period_end=True)


@pytest.mark.parametrize(
    ("url", "arrange", "page", "message"),
    [
        ("/billing/subscribe/", free, "/billing/pricing/", "Use the buttons on this page to subscribe to a plan."),
        (
            "/billing/subscribe/",
            subscribe,
            "/billing/pricing/",
            "You already have a subscription: use the buttons on this page to switch plans.",
        ),
        (
            "/billing/subscription/cancel/",
            subscribe,
            "/billing/subscription/",
            "Use the button on this page to cancel your subscription at the end of the period.",
        ),
        (
            "/billing/subscription/cancel/",
            scheduled_to_end,
            "/billing/subscription/",
            "Your subscription is already set to end at the end of the period.",
        ),
        ("/billing/subscription/cancel/", free, "/billing/subscription/", "You have no subscription to cancel."),
        (
            "/billing/subscription/resume/",
            scheduled_to_end,
            "/billing/subscription/",
            "Use the button on this page to keep your subscription.",
        ),
        (
            "/billing/subscription/resume/",
            subscribe,
            "/billing/subscription/",
            "Your subscription is not set to end: there is nothing to undo.",
        ),
        ("/billing/subscription/resume/", free, "/billing/subscription/", "You have no subscription to keep."),
        (
            "/billing/portal/",
            subscribe,
            "/billing/subscription/",
            "Use the button on this page to manage your payment method and invoices.",
        ),
        (
            "/billing/portal/",
            free,
            "/billing/subscription/",
            "Your past invoices are under Billing history on this page.",
        ),
    ],
    ids=[
        "subscribe-free",
        "subscribe-subscriber",
        "cancel",
        "cancel-already-scheduled",
        "cancel-free",
        "resume",
        "resume-not-scheduled",
        "resume-free",
        "portal",
        "portal-free",
    ],
)
def test_it_sends_a_get_on_a_post_only_url_to_the_page_with_its_button(client, user, fake, url, arrange, page, message):
    arrange(user)
    client.force_login(user)

    response = client.get(url, follow=True)

    assert response.redirect_chain == [(page, 302)]
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [message]
    assert fake.requests == []  # nothing was done: no Stripe call


def test_the_buttons_the_messages_point_at_are_on_the_page(client, user, fake):
    subscribe(user)
    client.force_login(user)

    html = client.get("/billing/subscription/cancel/", follow=True).content.decode()

    assert 'action="/billing/subscription/cancel/"' in html
    assert 'action="/billing/portal/"' in html


@pytest.mark.parametrize(
    "url", ["/billing/subscribe/", "/billing/subscription/cancel/", "/billing/subscription/resume/", "/billing/portal/"]
)
def test_a_head_is_redirected_without_leaving_a_message_and_other_methods_are_405(client, user, fake, url):
    assert client.get(url)["Location"].startswith("/accounts/login/")  # signed-in users only, as before
    client.force_login(user)

    head = client.head(url)

    assert head.status_code == 302
    assert [str(m) for m in client.get("/billing/subscription/").context["messages"]] == []
    response = client.put(url)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert fake.requests == []
