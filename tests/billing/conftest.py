import pytest

from tests.billing.fake_billing import make_webhook_endpoint, subscribe_through_fake, sync_plans


@pytest.fixture
def fake(db, fake_stripe_settings):
    """The loopback fake Stripe with billing configured (its key) and the paid demo plans on sale."""
    sync_plans("pro-monthly", "business-monthly")
    return fake_stripe_settings


@pytest.fixture
def alice(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def subscribed(alice, user, fake):
    """alice pays for Pro; returns (Stripe's subscription, our access record); the request log starts empty."""
    done, record = subscribe_through_fake(alice, user, fake, "pro-monthly")
    fake.requests.clear()
    return done.subscription, record


@pytest.fixture
def endpoint(fake):
    """dj-stripe's webhook endpoint, registered with the fake Stripe (its secret signs the deliveries)."""
    return make_webhook_endpoint(fake)
