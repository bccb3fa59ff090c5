"""Query counts of every path `make bench` measures, pinned at a small and a large data size.

The bench (bench/run.py) times these paths; these tests say why the times stay flat as data
grows: the same queries, whatever the number of other users, subscriptions or invoices. The
rows come from the bench's own loader (bench/load.py), so the shapes are the ones measured.
Each count names its queries in order.
"""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from djstripe.models import Customer, Invoice
from rest_framework.test import APIClient

from accounts import tokens
from bench.load import customer_row, invoice_row
from billing.models import Plan, Subscription, SubscriptionStatus
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("configured")]

# (other subscribers, invoices of the measured user): the small and the large world.
SIZES = pytest.mark.parametrize(("others", "invoices"), [(1, 1), (30, 20)], ids=["small", "large"])


@pytest.fixture
def configured(settings):
    """Billing configured as in the bench; paid plans synced-looking (no page calls Stripe)."""
    settings.STRIPE_SECRET_KEY = "sk_test_configured"  # billing configured: stripe_gateway.is_configured()
    for code in ("pro-monthly", "business-monthly"):
        Plan.objects.filter(code=code).update(stripe_product_id=f"prod_{code}", stripe_price_id=f"price_{code}")


@pytest.fixture
def world(user):
    """Builds the measured user's world: a Pro subscription, `invoices` invoices, `others` other subscribers."""

    def build(*, others: int, invoices: int):
        now = timezone.now()
        people = [user, *(UserFactory() for _ in range(others))]
        for n, person in enumerate(people):
            Subscription.objects.create(
                user=person,
                plan=Plan.objects.get(code="pro-monthly" if n % 2 == 0 else "business-monthly"),
                stripe_subscription_id=f"sub_q{n}",
                stripe_customer_id=f"cus_bench{n:06d}",
                status=SubscriptionStatus.ACTIVE,
                current_period_start=now - timedelta(days=5),
                current_period_end=now + timedelta(days=25),
            )
            customer = customer_row(person, n, now)
            customer.save()
            count = invoices if person == user else 1
            Invoice.objects.bulk_create(
                invoice_row(customer, now - timedelta(days=30 * m), number=f"Q{n:04d}-{m:04d}") for m in range(count)
            )
        assert Customer.objects.count() == others + 1

    return build


@pytest.fixture
def portal(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.start_login(user).access}")
    return client


# --- portal pages ---------------------------------------------------------------------------------


@SIZES
def test_pricing_costs_three_queries_however_much_data(portal, world, others, invoices, django_assert_num_queries):
    world(others=others, invoices=invoices)

    # user, the subscription with access (+ plan; read once for page and nav), active plans (session: cache)
    with django_assert_num_queries(3):
        response = portal.get("/billing/pricing/")

    assert response.status_code == 200
    assert "Your current plan" in response.content.decode()


@SIZES
def test_the_subscription_page_costs_three_queries_however_much_data(
    portal, world, others, invoices, django_assert_num_queries
):
    world(others=others, invoices=invoices)

    # user, the subscription with access (+ plan; the page's and the nav's), active plans (session: cache)
    with django_assert_num_queries(3):
        response = portal.get("/billing/subscription/")

    assert response.status_code == 200
    assert "<h2>Pro</h2>" in response.content.decode()


@SIZES
def test_the_history_page_costs_three_queries_however_much_data(
    portal, world, others, invoices, django_assert_num_queries
):
    world(others=others, invoices=invoices)

    # user, the user's invoices, the subscription with access (nav) (session: cache)
    with django_assert_num_queries(3):
        response = portal.get("/billing/history/")

    assert response.status_code == 200
    assert response.content.decode().count('<td><span class="badge">paid</span></td>') == invoices


# --- API --------------------------------------------------------------------------------------------


@SIZES
def test_the_plans_endpoint_costs_one_query_however_much_data(world, others, invoices, django_assert_num_queries):
    world(others=others, invoices=invoices)

    with django_assert_num_queries(1):  # active plans
        response = APIClient().get("/api/billing/plans")

    assert [plan["code"] for plan in response.json()] == ["free", "pro-monthly", "business-monthly"]


@SIZES
def test_me_costs_one_query_however_much_data(api, world, others, invoices, django_assert_num_queries):
    world(others=others, invoices=invoices)

    # token family (+ user, profile, verified address): nothing else
    with django_assert_num_queries(1):
        response = api.get("/api/me")

    assert response.json()["username"] == "alice"


@SIZES
def test_my_subscription_costs_two_queries_however_much_data(api, world, others, invoices, django_assert_num_queries):
    world(others=others, invoices=invoices)

    # token family (+ user, profile, verified address), the subscription with access (+ plan)
    with django_assert_num_queries(2):
        response = api.get("/api/billing/subscriptions/me")

    assert response.json()["plan"]["code"] == "pro-monthly"


@SIZES
def test_my_payments_cost_two_queries_however_much_data(api, world, others, invoices, django_assert_num_queries):
    world(others=others, invoices=invoices)

    # token family (+ user, profile, verified address), the user's invoices
    with django_assert_num_queries(2):
        response = api.get("/api/billing/payments/me")

    assert len(response.json()) == invoices


@SIZES
@override_settings(API_RATE_LIMIT_DEFAULT="1000/m")
def test_login_costs_the_same_queries_however_much_data(user, world, others, invoices, django_assert_num_queries):
    world(others=others, invoices=invoices)

    # the account behind the login (its one failed-login counter); the address (+ user) by email; its
    # authenticators (a second factor means mfa_required, accounts.mfa_login); SAVEPOINT, new token family, its
    # refresh token (outstanding), RELEASE (BEGIN/COMMIT outside a test); verified address (is_verified),
    # profile (the user in the response); the security history: the devices this account signed in
    # from (is this one new?), the sign-in event
    with django_assert_num_queries(11):
        response = APIClient().post("/api/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 200


@SIZES
@override_settings(API_RATE_LIMIT_DEFAULT="1000/m")
def test_refreshing_costs_the_same_queries_however_much_data(user, world, others, invoices, django_assert_num_queries):
    world(others=others, invoices=invoices)
    refresh = tokens.start_login(user).refresh

    # SAVEPOINT (BEGIN outside a test), the family (+ user) FOR UPDATE, the presented token (+ its blacklist
    # entry, if any), blacklist it, the next refresh token (outstanding), RELEASE (COMMIT)
    with django_assert_num_queries(6):
        response = APIClient().post("/api/refresh-token", {"refresh_token": refresh}, format="json")

    assert response.status_code == 200
