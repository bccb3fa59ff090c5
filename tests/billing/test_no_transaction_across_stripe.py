"""No database transaction is open while we wait for Stripe: Stripe first, then a short transaction
that records its answer. A transaction held across an HTTP call keeps row locks (and a connection)
for as long as Stripe takes, up to the SDK's timeout.

Transactional tests, so the test itself wraps nothing: ``connection.in_atomic_block`` at the
moment the SDK sends a request says whether the code under test holds a transaction.
"""

from urllib.parse import urlsplit

import pytest
import stripe
from django.db import connection
from rest_framework.test import APIClient

from billing import sweeps
from billing.models import Plan, Subscription
from tests.api.conftest import bearer, login
from tests.billing.fake_billing import start_checkout, subscribe_through_fake
from tests.factories import DEFAULT_PASSWORD
from tests.mfa_helpers import sign_in_with_second_factor

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stripe_requests(fake, monkeypatch):
    """Every request the SDK sends from here on: (method, path, inside a transaction?)."""
    seen = []
    client = stripe.default_http_client
    send = client.request_with_retries

    def watched(method, url, *args, **kwargs):
        seen.append((method.upper(), urlsplit(url).path, connection.in_atomic_block))
        return send(method, url, *args, **kwargs)

    monkeypatch.setattr(client, "request_with_retries", watched)
    return seen


def in_transaction(requests) -> list:
    return [(method, path) for method, path, atomic in requests if atomic]


@pytest.fixture
def subscribed_alice(alice, user, fake):
    subscribe_through_fake(alice, user, fake, "pro-monthly")
    return alice


@pytest.mark.parametrize("steps", [["cancel"], ["cancel", "resume"]], ids=["cancel", "resume"])
def test_the_pages_call_stripe_outside_any_transaction(subscribed_alice, stripe_requests, steps):
    for step in steps:
        stripe_requests.clear()
        response = subscribed_alice.post(f"/billing/subscription/{step}/")
        assert response.status_code == 302

    assert ("POST", f"/v1/subscriptions/{_subscription_id()}") in [(m, p) for m, p, _ in stripe_requests]
    assert in_transaction(stripe_requests) == []


@pytest.mark.parametrize("steps", [["cancel"], ["cancel", "resume"]], ids=["cancel", "resume"])
def test_the_api_calls_stripe_outside_any_transaction(subscribed_alice, stripe_requests, steps):
    member = bearer(APIClient(), login(APIClient())["token"])
    for step in steps:
        stripe_requests.clear()
        assert member.post(f"/api/billing/subscriptions/{step}").status_code == 200

    assert ("POST", f"/v1/subscriptions/{_subscription_id()}") in [(m, p) for m, p, _ in stripe_requests]
    assert in_transaction(stripe_requests) == []


def test_the_plan_admin_calls_stripe_outside_any_transaction(client, staff, fake, stripe_requests):
    sign_in_with_second_factor(client, staff)
    plan = Plan.objects.get(code="pro-monthly")
    form = {
        "name": plan.name,
        "tier": plan.tier,
        "price_cents": "2900",  # a new price: create it, and archive the old one
        "currency": plan.currency,
        "interval": plan.interval,
        "features": "[]",
        "is_active": "on",
    }

    response = client.post(f"/admin/billing/plan/{plan.pk}/change/", form)

    assert response.status_code == 302
    paths = [(method, path) for method, path, _ in stripe_requests]
    assert ("POST", "/v1/prices") in paths
    assert ("POST", f"/v1/prices/{plan.stripe_price_id}") in paths  # the old price archived
    assert in_transaction(stripe_requests) == []


def test_coming_back_from_checkout_asks_stripe_outside_any_transaction(alice, fake, stripe_requests):
    done = fake.complete_checkout(start_checkout(alice))
    stripe_requests.clear()

    assert alice.get(done.redirect_url).status_code == 302

    assert [(m, p) for m, p, _ in stripe_requests] == [("GET", f"/v1/checkout/sessions/{done.session['id']}")]
    assert in_transaction(stripe_requests) == []


def _subscription_id() -> str:
    return Subscription.objects.get().stripe_subscription_id


def test_deactivating_cancels_in_stripe_outside_any_transaction(subscribed_alice, stripe_requests):
    subscribed_alice.post("/accounts/reauthenticate/", {"password": DEFAULT_PASSWORD})
    stripe_requests.clear()

    response = subscribed_alice.post("/accounts/deactivate/", {"confirm": "on"})

    assert response.status_code == 302
    assert ("DELETE", f"/v1/subscriptions/{_subscription_id()}") in [(m, p) for m, p, _ in stripe_requests]
    assert in_transaction(stripe_requests) == []


def test_deactivating_through_the_api_cancels_outside_any_transaction(subscribed_alice, stripe_requests):
    member = bearer(APIClient(), login(APIClient())["token"])
    stripe_requests.clear()

    assert member.post("/api/deactivate", {"password": DEFAULT_PASSWORD}, format="json").status_code == 202

    assert ("DELETE", f"/v1/subscriptions/{_subscription_id()}") in [(m, p) for m, p, _ in stripe_requests]
    assert in_transaction(stripe_requests) == []


def test_the_admins_deactivate_action_cancels_outside_any_transaction(
    subscribed_alice, client, staff, user, stripe_requests
):
    sign_in_with_second_factor(client, staff)
    stripe_requests.clear()

    client.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [user.pk]})

    assert ("DELETE", f"/v1/subscriptions/{_subscription_id()}") in [(m, p) for m, p, _ in stripe_requests]
    assert in_transaction(stripe_requests) == []


def test_reconciliation_and_its_integrity_report_call_stripe_outside_any_transaction(subscribed_alice, stripe_requests):
    stripe_requests.clear()

    sweeps.reconcile_subscriptions()

    paths = [(m, p) for m, p, _ in stripe_requests]
    assert ("GET", f"/v1/subscriptions/{_subscription_id()}") in paths
    assert ("GET", "/v1/subscriptions") in paths  # the integrity report's listing
    assert in_transaction(stripe_requests) == []
