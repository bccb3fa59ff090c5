"""Subscribing: POST /billing/subscribe/ makes the user's Stripe customer and a Checkout Session.

Driven through the real views, services, gateway and dj-stripe against the loopback fake Stripe.
"""

import time
from types import SimpleNamespace

import pytest
import stripe
from django.test import Client
from djstripe.models import Customer

from billing.models import Plan, Subscription, SubscriptionStatus
from tests.billing.fake_billing import deliver, messages_of, start_checkout, sync_plans
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

UNREACHABLE = "Stripe could not be reached. Please try again in a few minutes."
TROUBLE = "Stripe is having trouble. Please try again in a few minutes."


@pytest.fixture
def fake(fake_stripe_settings, settings):
    # Links that leave the site (Stripe's redirects) come from SITE_URL, here the test client's host.
    settings.SITE_URL = "http://testserver"
    sync_plans("pro-monthly", "business-monthly")
    fake_stripe_settings.requests.clear()
    return fake_stripe_settings


@pytest.fixture
def frozen_minute(monkeypatch):
    """Both clicks of a double click land in the same minute (the checkout idempotency key's window)."""
    now = time.time()
    monkeypatch.setattr("billing.services.time", SimpleNamespace(time=lambda: now))
    return now


@pytest.fixture
def short_timeout(monkeypatch):
    monkeypatch.setattr(stripe, "default_http_client", stripe.RequestsClient(timeout=0.2))


def subscribe(client, plan="pro-monthly", **kwargs):
    return client.post("/billing/subscribe/", {"plan": plan}, **kwargs)


def assert_customers_consistent(fake, user):
    """What dj-stripe holds for the user is at most one customer, and Stripe has it."""
    local = list(Customer.objects.filter(subscriber=user).values_list("id", flat=True))
    assert len(local) <= 1
    assert set(local) <= {c["id"] for c in fake.all("customer")}


def test_subscribing_sends_the_user_to_a_stripe_checkout_for_the_plan(alice, user, fake, frozen_minute):
    response = subscribe(alice)

    (session,) = fake.all("checkout.session")
    assert response.status_code == 302
    assert response["Location"] == session["url"]
    assert session["url"].startswith("https://checkout.stripe.com/")

    # The user's Stripe customer was made once, through dj-stripe, and is mirrored locally.
    customer = Customer.objects.get(subscriber=user)
    (stripe_customer,) = fake.all("customer")
    assert customer.id == stripe_customer["id"]
    assert customer.livemode is False
    assert stripe_customer["email"] == "alice@example.com"
    assert stripe_customer["metadata"] == {"djstripe_subscriber": str(user.pk)}
    (customer_call,) = fake.calls("POST", "/v1/customers")
    assert customer_call.headers.get("Idempotency-Key")

    (call,) = fake.calls("POST", "/v1/checkout/sessions")
    pro = Plan.objects.get(code="pro-monthly")
    assert call.params == {
        "mode": "subscription",
        "customer": customer.id,
        "client_reference_id": str(user.pk),
        "line_items": [{"price": pro.stripe_price_id, "quantity": 1}],
        "allow_promotion_codes": True,
        "metadata": {"user_id": str(user.pk), "plan_code": "pro-monthly"},
        "subscription_data": {"metadata": {"user_id": str(user.pk), "plan_code": "pro-monthly"}},
        "success_url": "http://testserver/billing/checkout/success/?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://testserver/billing/pricing/?checkout=canceled",
    }
    assert call.headers["Idempotency-Key"] == f"checkout:{user.pk}:pro-monthly:{int(frozen_minute // 60)}"
    assert call.headers["Stripe-Version"] == "2026-05-27.dahlia"
    assert (session["customer"], session["client_reference_id"], session["amount_total"]) == (
        customer.id,
        str(user.pk),
        1900,
    )
    assert not Subscription.objects.filter(user=user).exists()  # access comes with the webhook


def test_stripes_return_urls_come_from_site_url_not_from_the_host_header(alice, fake, settings):
    settings.SITE_URL = "https://gatehouse.example.com"
    settings.ALLOWED_HOSTS = ["testserver", "evil.example.com"]

    subscribe(alice, HTTP_HOST="evil.example.com")

    (call,) = fake.calls("POST", "/v1/checkout/sessions")
    assert call.params["success_url"] == (
        "https://gatehouse.example.com/billing/checkout/success/?session_id={CHECKOUT_SESSION_ID}"
    )
    assert call.params["cancel_url"] == "https://gatehouse.example.com/billing/pricing/?checkout=canceled"


def test_a_double_click_reuses_the_same_checkout_session(alice, user, fake, frozen_minute):
    first = subscribe(alice)
    second = subscribe(alice)

    assert first["Location"] == second["Location"]
    assert len(fake.all("checkout.session")) == 1
    assert len(fake.all("customer")) == 1
    assert Customer.objects.filter(subscriber=user).count() == 1
    keys = [c.headers["Idempotency-Key"] for c in fake.calls("POST", "/v1/checkout/sessions")]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert len(fake.calls("POST", "/v1/customers")) == 1  # the second click found the customer locally


def test_a_later_checkout_reuses_the_customer(alice, user, fake, monkeypatch):
    subscribe(alice)
    monkeypatch.setattr("billing.services.time", SimpleNamespace(time=lambda: time.time() + 120))

    subscribe(alice, "business-monthly")

    sessions = fake.all("checkout.session")
    assert len(sessions) == 2
    assert {s["customer"] for s in sessions} == {Customer.objects.get(subscriber=user).id}
    assert len(fake.all("customer")) == 1


def test_a_user_who_already_has_access_is_told_and_stripe_is_not_called(alice, user, fake):
    Subscription.objects.create(
        user=user,
        plan=Plan.objects.get(code="pro-monthly"),
        stripe_subscription_id="sub_existing",
        status=SubscriptionStatus.ACTIVE,
    )

    response = subscribe(alice, "business-monthly", follow=True)

    assert response.redirect_chain == [("/billing/pricing/", 302)]
    assert messages_of(response) == ["You already have a subscription. Change your plan instead."]
    assert fake.requests == []
    assert not Customer.objects.exists()


def test_a_canceled_subscription_does_not_stop_a_new_one(alice, user, fake):
    Subscription.objects.create(
        user=user,
        plan=Plan.objects.get(code="pro-monthly"),
        stripe_subscription_id="sub_old",
        status=SubscriptionStatus.CANCELED,
    )

    response = subscribe(alice)

    assert response.status_code == 302
    assert response["Location"] == fake.all("checkout.session")[0]["url"]


@pytest.mark.parametrize("code", ["no-such-plan", "free", ""])
def test_a_plan_that_is_not_on_sale_is_refused_without_calling_stripe(alice, user, fake, code):
    response = subscribe(alice, code, follow=True)

    assert response.redirect_chain == [("/billing/pricing/", 302)]
    assert messages_of(response) == ["No such plan is on sale."]
    assert fake.requests == []
    assert not Customer.objects.exists()


def test_an_archived_plan_is_refused_without_calling_stripe(alice, user, fake):
    Plan.objects.filter(code="pro-monthly").update(is_active=False)

    response = subscribe(alice, follow=True)

    assert messages_of(response) == ["No such plan is on sale."]
    assert fake.requests == []


def test_a_plan_not_yet_synced_to_stripe_is_not_sold(alice, user, fake):
    Plan.objects.create(code="team", name="Team", tier="business", price_cents=5000)

    response = subscribe(alice, "team", follow=True)

    assert messages_of(response) == ["This plan is not on sale yet: it has no Stripe price."]
    assert fake.requests == []


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        pytest.param(lambda fake: fake.fail_next(500, path_prefix="/v1/customers"), TROUBLE, id="customer-500"),
        pytest.param(lambda fake: fake.down(), TROUBLE, id="stripe-down"),
        pytest.param(lambda fake: fake.down(close_connections=True), UNREACHABLE, id="connection-dropped"),
        pytest.param(lambda fake: fake.fail_next(429, path_prefix="/v1/customers"), UNREACHABLE, id="rate-limited"),
        pytest.param(lambda fake: fake.fail_next(500, path_prefix="/v1/checkout"), TROUBLE, id="checkout-500"),
        pytest.param(
            lambda fake: fake.fail_next(401),
            "Billing is misconfigured on this server. Please contact support.",
            id="bad-api-key",
        ),
    ],
)
def test_a_stripe_failure_is_a_message_and_leaves_consistent_data(alice, user, fake, failure, message):
    failure(fake)

    response = subscribe(alice, follow=True)

    assert response.redirect_chain == [("/billing/pricing/", 302)]
    assert messages_of(response) == [message]
    fake.up()
    assert fake.all("checkout.session") == []
    assert_customers_consistent(fake, user)
    assert not Subscription.objects.filter(user=user).exists()


@pytest.mark.parametrize("path", ["/v1/customers", "/v1/checkout/sessions"])
def test_a_stripe_timeout_is_a_message_and_leaves_consistent_data(alice, user, fake, short_timeout, path):
    fake.timeout_next(seconds=0.5, path_prefix=path)

    response = subscribe(alice, follow=True)

    assert messages_of(response) == [UNREACHABLE]
    assert fake.all("checkout.session") == []
    assert_customers_consistent(fake, user)


def test_after_a_lost_answer_the_retry_reuses_what_stripe_made(alice, user, fake, short_timeout, frozen_minute):
    # Stripe made the customer and the session, but both answers were lost on the way back.
    fake.timeout_next(seconds=0.5, path_prefix="/v1/customers", process=True)
    assert messages_of(subscribe(alice, follow=True)) == [UNREACHABLE]
    assert_customers_consistent(fake, user)
    fake.timeout_next(seconds=0.5, path_prefix="/v1/checkout/sessions", process=True)
    assert messages_of(subscribe(alice, follow=True)) == [UNREACHABLE]

    response = subscribe(alice)

    (stripe_customer,) = fake.all("customer")  # idempotency keys replayed: nothing was made twice
    (session,) = fake.all("checkout.session")
    assert response["Location"] == session["url"]
    assert Customer.objects.get(subscriber=user).id == stripe_customer["id"] == session["customer"]


def test_subscribing_needs_a_signed_in_user_and_a_post(client, user, fake):
    response = subscribe(client)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    client.force_login(user)
    assert client.get("/billing/subscribe/")["Location"] == "/billing/pricing/"  # the page with the buttons
    assert fake.requests == []


def test_the_subscribe_form_needs_a_csrf_token(csrf_client, user, fake):
    csrf_client.force_login(user)
    assert subscribe(csrf_client).status_code == 403
    assert fake.requests == []


def test_the_pricing_page_offers_checkout_to_a_signed_in_user(alice, fake):
    html = alice.get("/billing/pricing/").content.decode()

    assert 'action="/billing/subscribe/"' in html
    assert '<input type="hidden" name="plan" value="pro-monthly">' in html
    assert "Subscribe to Business" in html
    assert "Billing is not configured" not in html


# --- coming back from Checkout (its success URL) ---------------------------------------------------

NO_CHECKOUT = "There is no checkout of yours to confirm."


def come_back(client, url: str, **kwargs):
    """Follow Checkout's redirect to our success URL, as the customer's browser does."""
    return client.get(url, follow=True, **kwargs)


def test_the_success_url_given_to_stripe_comes_back_with_the_session_id(alice, fake):
    session_id = start_checkout(alice)

    done = fake.complete_checkout(session_id)

    assert done.redirect_url == f"http://testserver/billing/checkout/success/?session_id={session_id}"


def test_it_says_the_plan_is_active_once_stripes_webhook_has_arrived(
    alice, user, fake, endpoint, committing, django_assert_num_queries
):
    done = fake.complete_checkout(start_checkout(alice))
    with committing():
        assert {r.status_code for r in deliver(alice, endpoint, *done.events)} == {200}
    fake.requests.clear()

    # user (the session is in the cache), the session's customer is the user's, our record (+ its plans)
    with django_assert_num_queries(3):
        response = alice.get(done.redirect_url)

    assert response["Location"] == "/billing/subscription/"
    assert messages_of(alice.get("/billing/subscription/")) == ["Thank you! Your Pro plan is active."]
    assert [(c.method, c.path) for c in fake.requests] == [("GET", f"/v1/checkout/sessions/{done.session['id']}")]


def test_it_says_payment_received_while_stripes_confirmation_is_on_its_way(alice, user, fake):
    done = fake.complete_checkout(start_checkout(alice))  # paid; the webhook has not arrived

    response = come_back(alice, done.redirect_url)

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    assert messages_of(response) == []  # the page's one state says it (tests/billing/test_subscription_page_states.py)
    assert "Your Pro plan starts as soon as Stripe confirms your payment" in response.content.decode()
    assert not Subscription.objects.filter(user=user).exists()


def test_it_says_an_unpaid_checkout_has_not_started(alice, fake):
    done = fake.complete_checkout(start_checkout(alice), paid=False)  # e.g. a bank debit not settled yet

    response = come_back(alice, done.redirect_url)

    assert messages_of(response) == ["Your payment has not gone through yet, so your Pro plan has not started."]
    assert "Thank you" not in response.content.decode()


def test_it_says_nothing_was_charged_for_an_unfinished_checkout(alice, fake):
    session_id = start_checkout(alice)

    response = come_back(alice, f"/billing/checkout/success/?session_id={session_id}")

    assert response.redirect_chain == [("/billing/pricing/", 302)]
    assert messages_of(response) == ["Your checkout is not finished: nothing was charged."]


def test_it_says_nothing_was_charged_for_an_expired_checkout(alice, fake):
    session_id = start_checkout(alice)
    fake.expire_checkout(session_id)

    response = come_back(alice, f"/billing/checkout/success/?session_id={session_id}")

    assert response.redirect_chain == [("/billing/pricing/", 302)]
    assert messages_of(response) == ["This checkout expired before it was paid: nothing was charged."]


def test_it_says_a_second_paid_checkout_is_refunded_not_active(alice, fake, endpoint, committing):
    pro, business = start_checkout(alice, "pro-monthly"), start_checkout(alice, "business-monthly")
    first, second = fake.complete_checkout(pro), fake.complete_checkout(business)
    with committing():
        deliver(alice, endpoint, *first.events, *second.events)

    response = come_back(alice, second.redirect_url)

    assert messages_of(response) == [
        "You already have the Pro plan, so the subscription from this checkout was canceled and its payment "
        "refunded in full."
    ]


@pytest.mark.parametrize(
    "query",
    ["", "?session_id=", "?session_id={CHECKOUT_SESSION_ID}", "?session_id=../../v1/customers", "?session_id=cs_x"],
    ids=["no-session", "empty", "unfilled-template", "path", "malformed"],
)
def test_it_tells_a_user_without_a_checkout_that_there_is_none_and_asks_stripe_nothing(alice, fake, query):
    response = come_back(alice, f"/billing/checkout/success/{query}")

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    assert messages_of(response) == [NO_CHECKOUT]
    assert fake.requests == []


def test_a_session_stripe_does_not_know_is_no_checkout(alice, fake):
    response = come_back(alice, "/billing/checkout/success/?session_id=cs_test_doesnotexist")

    assert messages_of(response) == [NO_CHECKOUT]
    assert [(c.method, c.path) for c in fake.requests] == [("GET", "/v1/checkout/sessions/cs_test_doesnotexist")]


def test_another_users_paid_checkout_says_nothing_about_it(alice, fake, endpoint, committing):
    bob = UserFactory(username="bob", email="bob@example.com")
    bobs_browser = Client()
    bobs_browser.force_login(bob)
    done = fake.complete_checkout(start_checkout(bobs_browser))
    with committing():
        deliver(alice, endpoint, *done.events)

    response = come_back(alice, done.redirect_url)

    assert messages_of(response) == [NO_CHECKOUT]  # the same words as for a session that does not exist
    html = response.content.decode()
    assert "Pro" not in html.split("<main", 1)[-1]
    assert "Thank you" not in html


def test_with_billing_off_it_says_there_is_no_checkout_and_asks_stripe_nothing(alice, fake, settings):
    settings.STRIPE_SECRET_KEY = ""

    response = come_back(alice, "/billing/checkout/success/?session_id=cs_test_1")

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    assert messages_of(response) == [NO_CHECKOUT]
    assert fake.requests == []


@pytest.mark.parametrize(
    "failure", [lambda fake: fake.down(), lambda fake: fake.down(close_connections=True)], ids=["500", "unreachable"]
)
def test_when_stripe_cannot_be_asked_it_says_it_could_not_check_not_paid(alice, fake, failure):
    done = fake.complete_checkout(start_checkout(alice))
    failure(fake)

    response = come_back(alice, done.redirect_url)

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    html = response.content.decode()
    assert "We could not check your payment with Stripe just now." in html
    assert "Payment received" not in html
    assert "Thank you" not in html


def test_coming_back_needs_a_signed_in_user(client, fake):
    response = client.get("/billing/checkout/success/?session_id=cs_test_1")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert fake.requests == []


def test_canceling_checkout_says_nothing_was_charged(alice, fake):
    response = alice.get("/billing/pricing/?checkout=canceled")

    assert messages_of(response) == ["Checkout was canceled: nothing was charged."]
