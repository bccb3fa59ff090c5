"""Point the stripe SDK's module-level settings at a FakeStripe, and put them back afterwards."""

from __future__ import annotations

import contextlib

import requests
import stripe

from .server import FakeStripe

FAKE_API_KEY = "sk_test_FakeStripeForGatehouseTests0000"  # dj-stripe wants 24+ characters after the prefix
CLIENT_TIMEOUT = 2.0  # seconds the SDK waits for an answer; timeout_next() holds a request longer
_SDK_GLOBALS = ("api_base", "api_key", "max_network_retries", "default_http_client", "enable_telemetry")


@contextlib.contextmanager
def stripe_sdk_pointed_at(fake: FakeStripe, *, timeout: float | None = None, api_key: str = FAKE_API_KEY):
    """Point the stripe SDK's globals at ``fake`` (no retries, a short timeout); restore them on exit."""
    saved = {name: getattr(stripe, name) for name in _SDK_GLOBALS}
    saved_timeout = fake.client_timeout
    fake.client_timeout = saved_timeout if timeout is None else timeout
    session = requests.Session()
    session.trust_env = False  # never route 127.0.0.1 through a proxy from the environment
    client = stripe.RequestsClient(timeout=fake.client_timeout, session=session)
    stripe.api_base = fake.api_base
    stripe.api_key = api_key
    stripe.max_network_retries = 0
    stripe.default_http_client = client
    stripe.enable_telemetry = False
    try:
        yield fake
    finally:
        for name, value in saved.items():
            setattr(stripe, name, value)
        fake.client_timeout = saved_timeout
        session.close()
