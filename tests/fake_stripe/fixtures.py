"""pytest fixtures for the loopback fake Stripe. Enable with ``pytest_plugins = ["tests.fake_stripe.fixtures"]``.

One server runs for the whole session; ``fake_stripe`` resets it before each test and points the
stripe SDK's globals at it (restored afterwards), so every test starts from an empty Stripe.
"""

from __future__ import annotations

import pytest

from .sdk import CLIENT_TIMEOUT, FAKE_API_KEY, stripe_sdk_pointed_at
from .server import FakeStripe


def _configured_api_version() -> str | None:
    try:
        from django.conf import settings

        return getattr(settings, "STRIPE_API_VERSION", None) if settings.configured else None
    except ImportError:
        return None


@pytest.fixture(scope="session")
def fake_stripe_server():
    """The session's one FakeStripe server (use ``fake_stripe`` in tests: it resets this one)."""
    with FakeStripe(client_timeout=CLIENT_TIMEOUT) as fake:
        yield fake


@pytest.fixture
def fake_stripe(fake_stripe_server):
    """An empty fake Stripe with the stripe SDK pointed at it for this test."""
    fake = fake_stripe_server
    fake.reset()
    version = _configured_api_version()
    if version:
        fake.api_version = version  # events carry the version the project pins
    with stripe_sdk_pointed_at(fake):
        yield fake
    crashes = list(fake.internal_errors)
    fake.reset()  # also releases requests still held by timeout_next()
    if crashes:
        pytest.fail("the fake Stripe crashed while answering:\n" + "\n".join(crashes))


@pytest.fixture
def fake_stripe_settings(fake_stripe, settings):
    """``fake_stripe`` plus Django settings that make billing code and dj-stripe use the fake's key."""
    settings.STRIPE_SECRET_KEY = FAKE_API_KEY  # billing.stripe_gateway sends settings.STRIPE_SECRET_KEY
    settings.STRIPE_TEST_SECRET_KEY = FAKE_API_KEY  # dj-stripe's default test-mode key
    return fake_stripe
