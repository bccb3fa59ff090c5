"""A loopback fake of Stripe's API: the real stripe SDK and dj-stripe talk to it over HTTP on 127.0.0.1.

In a test (fixture from ``tests.fake_stripe.fixtures``)::

    def test_checkout_completes(fake_stripe, client):
        product, price = fake_stripe.create_plan("Pro", unit_amount=2000)
        session = stripe.checkout.Session.create(mode="subscription", ...)   # or the code under test
        done = fake_stripe.complete_checkout(session.id)       # subscription, paid invoice, events
        post_events(client, webhook_url, done.events, secret)  # signed like Stripe signs them

Modules: ``server`` (HTTP, auth, idempotency, request log, failure injection), ``state`` (the
endpoints, one per SDK ``*Params`` type, and the lifecycle helpers), ``objects`` (objects built from
Stripe's published fixtures), ``params`` (form decoding and validation), ``webhooks`` (signatures),
``sdk`` (pointing the SDK's globals at a fake), ``fixtures`` (the pytest fixtures).
"""

from .errors import StripeFault
from .sdk import FAKE_API_KEY, stripe_sdk_pointed_at
from .server import FakeStripe, HeldAnswer, RecordedRequest
from .state import ROUTES, Lifecycle
from .webhooks import event_payload, post_event, post_events, sign_payload

__all__ = [
    "FAKE_API_KEY",
    "ROUTES",
    "FakeStripe",
    "HeldAnswer",
    "Lifecycle",
    "RecordedRequest",
    "StripeFault",
    "event_payload",
    "post_event",
    "post_events",
    "sign_payload",
    "stripe_sdk_pointed_at",
]
