"""The Stripe webhook rows of `make bench`: the loopback fake Stripe and customers who paid through it.

Setup (in bench/run.py's process, before gunicorn starts): the fake Stripe from tests/fake_stripe
runs in a thread for the whole bench and answers dj-stripe's re-fetches from gunicorn too
(bench.settings points the SDK at it when BENCH_STRIPE_API_BASE is set). A few users
subscribe through the app's own Checkout and the fake completes and renews their subscriptions;
every event is delivered to the app, so the mirror and our access records are as in production.

Rows: a duplicate delivery (an event already processed, posted again with a fresh signature) and
new events (the renewals' `customer.subscription.updated` and `invoice.paid`, each sent under a
new event id, signed just before the row), which dj-stripe re-fetches from the fake Stripe.
"""

import copy
import json
import time
from dataclasses import dataclass, field

from django.test import Client

from tests.billing.fake_billing import deliver, make_webhook_endpoint, start_checkout, sync_plans, webhook_url
from tests.fake_stripe import FakeStripe, sign_payload, stripe_sdk_pointed_at
from tests.fake_stripe import objects as stripe_objects

NEW_EVENT_TYPES = ("customer.subscription.updated", "invoice.paid")


@dataclass
class WebhookBench:
    fake: FakeStripe
    url: str
    secret: str
    processed: dict  # an event the app has processed already
    templates: list = field(default_factory=list)  # events to resend under new ids


def start_fake_stripe() -> FakeStripe:
    return FakeStripe(client_timeout=10).start()


def sync_plans_and_endpoint(fake: FakeStripe, host: str):
    """The paid demo plans pushed to the fake (as the admin does) and the webhook endpoint registered.

    Before bench/load.py runs, so the plans carry the fake's Product and Price ids.
    """
    from django.conf import settings

    fake.api_version = settings.STRIPE_API_VERSION
    with stripe_sdk_pointed_at(fake, timeout=10):
        sync_plans("pro-monthly", "business-monthly")
        return make_webhook_endpoint(fake, url=f"http://{host}/stripe/webhook/")


def subscribe(fake: FakeStripe, endpoint, people: list, host: str) -> WebhookBench:
    """`people` (who have no subscription yet) subscribe to Pro through Checkout, then renew once."""
    processed, templates = None, []
    with stripe_sdk_pointed_at(fake, timeout=10):
        for person in people:
            client = Client(HTTP_HOST=host)
            client.force_login(person)
            done = fake.complete_checkout(start_checkout(client, "pro-monthly"))
            _deliver(client, endpoint, done.events)
            renewal = fake.renew(done.subscription["id"])
            _deliver(client, endpoint, renewal.events)
            processed = processed or done.events[0]
            templates += [event for event in renewal.events if event["type"] in NEW_EVENT_TYPES]
    return WebhookBench(fake, webhook_url(endpoint), endpoint.secret, processed, templates)


def _deliver(client: Client, endpoint, events: list) -> None:
    for event, response in zip(events, deliver(client, endpoint, *events), strict=True):
        if response.status_code != 200:
            raise RuntimeError(f"setup delivery of {event['type']} answered {response.status_code}")


def duplicate_delivery(bench: WebhookBench) -> tuple[str, str]:
    """The processed event's body and a signature made now (Stripe's tolerance is 300 s)."""
    body = _body(bench.processed)
    return body, sign_payload(body, bench.secret)


def new_events(bench: WebhookBench, count: int) -> list[tuple[str, str]]:
    """`count` (signature, body) pairs, each a template event under a new id, customers in turn."""
    now = int(time.time())
    out = []
    for n in range(count):
        event = copy.deepcopy(bench.templates[n % len(bench.templates)])
        event["id"] = stripe_objects.new_id("event")
        body = _body(event)
        out.append((sign_payload(body, bench.secret, timestamp=now), body))
    return out


def _body(event: dict) -> str:
    # Compact, so one event fits on one line of wrk's request file (Stripe pretty-prints; the
    # signature covers whatever bytes are sent).
    return json.dumps(event, separators=(",", ":"))
