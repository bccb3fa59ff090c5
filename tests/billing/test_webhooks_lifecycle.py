"""Webhooks end to end: Stripe's signed deliveries (fixture shapes, from the fake) through dj-stripe to our access record and mail."""

from django.core import mail

from billing.models import Subscription
from tests.billing.fake_billing import deliver, start_checkout


def test_a_completed_checkout_grants_access_and_mails_once(alice, user, fake, endpoint, committing):
    session_id = start_checkout(alice)
    done = fake.complete_checkout(session_id)
    with committing():
        responses = deliver(alice, endpoint, *done.events)
    assert [r.status_code for r in responses] == [200] * len(done.events), [r.content for r in responses]
    record = Subscription.objects.get(stripe_subscription_id=done.subscription["id"])
    assert record.status == "active"
    assert record.plan.code == "pro-monthly"
    assert [m.subject for m in mail.outbox] == ["[Gatehouse] Your Pro subscription has started"]
