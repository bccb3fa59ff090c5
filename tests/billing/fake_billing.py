"""Helpers for billing tests that drive the real code against the loopback fake Stripe.

They only arrange what a test starts from (plans synced to Stripe, a user subscribed through
Checkout, our access record as the webhook would have written it); the behaviour under test goes
through the views and services unchanged.
"""

from datetime import UTC, datetime

import stripe
from django.contrib.messages import get_messages

from billing import services
from billing.models import Plan, Subscription, SubscriptionStatus
from tests.fake_stripe import FAKE_API_KEY


def ensure_demo_plans() -> None:
    """The migration's demo plans (a transactional test's flush removes them from a reused database)."""
    if not Plan.objects.exists():
        from importlib import import_module

        from django.apps import apps

        import_module("billing.migrations.0002_demo_plans").seed_demo_plans(apps, None)


def ensure_periodic_schedule() -> None:
    """The migration's beat schedule, for the same reason (its own get_or_create is idempotent)."""
    from importlib import import_module

    from django.apps import apps

    import_module("billing.migrations.0005_periodic_schedule").create_schedule(apps, None)


def sync_plans(*codes: str) -> list[Plan]:
    """Push the demo plans to the fake (Product + Price, dj-stripe mirror) as the admin would."""
    ensure_demo_plans()
    return [services.save_plan(plan=Plan.objects.get(code=code)) for code in codes]


def messages_of(response) -> list[str]:
    """The flash messages a response carries (rendered by the page it redirected to, or queued)."""
    if response.context is not None and "messages" in response.context:
        return [str(message) for message in response.context["messages"]]
    return [str(message) for message in get_messages(response.wsgi_request)]


def start_checkout(client, plan_code: str = "pro-monthly") -> str:
    """POST /billing/subscribe/ as the signed-in client; the Checkout Session id it was sent to."""
    response = client.post("/billing/subscribe/", {"plan": plan_code})
    assert response.status_code == 302, messages_of(response)
    return response["Location"].rsplit("/", 1)[-1]


def subscribe_through_fake(client, user, fake, plan_code: str = "pro-monthly"):
    """The user subscribed through our Checkout and paid; our access record says so.

    Returns (Lifecycle, Subscription): Stripe's side from the fake and our row, written with what
    the webhook would have taken from Stripe (period from the subscription item).
    """
    start_checkout(client, plan_code)
    session = next(s for s in fake.all("checkout.session") if s["status"] == "open")
    done = fake.complete_checkout(session["id"])
    return done, access_record(user, done.subscription, plan_code)


def access_record(user, stripe_subscription: dict, plan_code: str, **fields) -> Subscription:
    item = stripe_subscription["items"]["data"][0]
    values = {
        "user": user,
        "plan": Plan.objects.get(code=plan_code),
        "stripe_subscription_id": stripe_subscription["id"],
        "stripe_customer_id": stripe_subscription["customer"],
        "status": stripe_subscription["status"] or SubscriptionStatus.ACTIVE,
        "current_period_start": _when(item["current_period_start"]),
        "current_period_end": _when(item["current_period_end"]),
        "cancel_at_period_end": stripe_subscription["cancel_at_period_end"],
    }
    values.update(fields)
    return Subscription.objects.create(**values)


def sync_invoice(invoice_id: str):
    """Mirror one of the fake's invoices into dj-stripe as its webhook handling would (it re-fetches)."""
    from djstripe.models import Invoice

    return Invoice.sync_from_stripe_data(
        stripe.Invoice.retrieve(invoice_id, api_key=FAKE_API_KEY), api_key=FAKE_API_KEY
    )


def _when(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def row(record) -> dict:
    """Our access record as stored, to compare before and after."""
    return Subscription.objects.filter(pk=record.pk).values().get()


# --- webhooks ---------------------------------------------------------------------------------


def make_webhook_endpoint(fake, url: str = "https://gatehouse.test/stripe/webhook/"):
    """A webhook endpoint registered with the fake Stripe, mirrored by dj-stripe with its secret.

    The Account and APIKey rows are created up front as in production after the first
    webhook (DESIGN.md: otherwise dj-stripe asks GET /v1/account on every delivery).
    """
    from djstripe.models import Account, APIKey, WebhookEndpoint

    account = Account.sync_from_stripe_data(stripe.Account.retrieve(api_key=FAKE_API_KEY), api_key=FAKE_API_KEY)
    APIKey.objects.get_or_create(secret=FAKE_API_KEY, defaults={"livemode": False, "djstripe_owner_account": account})
    created = stripe.WebhookEndpoint.create(url=url, enabled_events=["*"], api_key=FAKE_API_KEY)
    data = created.to_dict()
    endpoint = WebhookEndpoint.sync_from_stripe_data(data, api_key=FAKE_API_KEY)
    endpoint.secret = data["secret"]
    endpoint.save(update_fields=["secret"])
    return endpoint


def webhook_url(endpoint) -> str:
    return f"/stripe/webhook/{endpoint.djstripe_uuid}/"


def deliver(client, endpoint, *events, timestamp: int | None = None):
    """POST each event signed with the endpoint's secret, as Stripe delivers them; the responses."""
    from tests.fake_stripe import post_event

    return [post_event(client, webhook_url(endpoint), e, endpoint.secret, timestamp=timestamp) for e in events]


def paid_twice(client, fake, endpoint, first_plan: str = "pro-monthly", second_plan: str = "business-monthly"):
    """Two Checkout tabs, both paid, both webhooks delivered; the duplicate's cancel-and-refund task
    not run yet (the test transaction never commits). Returns (kept, duplicate) as Lifecycles."""
    sessions = start_checkout(client, first_plan), start_checkout(client, second_plan)
    first, second = (fake.complete_checkout(session) for session in sessions)
    deliver(client, endpoint, *first.events, *second.events)
    return first, second
