"""A validly signed delivery while this server has no usable Stripe key: Stripe must deliver it again.

dj-stripe would re-fetch the event's objects from Stripe without a key and raise (a 500). The
answer is a 503 with Retry-After, and nothing is written that would make the retry look like a
duplicate once the key is configured.
"""

import pytest
from djstripe.models import APIKey, Event, WebhookEventTrigger

from billing.models import Subscription
from tests.billing.fake_billing import deliver, start_checkout
from tests.fake_stripe.sdk import FAKE_API_KEY


@pytest.fixture
def event(alice, fake, endpoint, settings):
    """A paid checkout's first event, then the server as deployed without keys.

    config.settings reads STRIPE_SECRET_KEY only, so dj-stripe has no key either, and a fresh
    deployment has no APIKey row for dj-stripe to fall back on.
    """
    paid = fake.complete_checkout(start_checkout(alice)).event("customer.subscription.created")
    fake.requests.clear()
    settings.STRIPE_SECRET_KEY = settings.STRIPE_TEST_SECRET_KEY = ""
    APIKey.objects.all().delete()
    return paid


def test_it_answers_503_with_retry_after(alice, endpoint, event, fake):
    (response,) = deliver(alice, endpoint, event)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "not configured" in response.content.decode()
    assert fake.requests == [], "nothing was asked of Stripe without a key"


def test_it_writes_nothing(alice, endpoint, event):
    deliver(alice, endpoint, event)

    assert not Event.objects.exists(), "an Event row would make the retry a duplicate"
    assert not WebhookEventTrigger.objects.exists()
    assert not Subscription.objects.exists()


def test_it_answers_503_for_a_key_dj_stripe_cannot_use(alice, endpoint, event, settings):
    settings.STRIPE_SECRET_KEY = "not-a-stripe-key"  # set, so billing counts as configured

    (response,) = deliver(alice, endpoint, event)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert not Event.objects.exists()


def test_the_retry_is_processed_once_the_key_is_configured(alice, endpoint, event, settings, committing):
    deliver(alice, endpoint, event)
    settings.STRIPE_SECRET_KEY = settings.STRIPE_TEST_SECRET_KEY = FAKE_API_KEY

    with committing():
        (retry,) = deliver(alice, endpoint, event)

    assert retry.status_code == 200
    assert Subscription.objects.get().status == "active"
