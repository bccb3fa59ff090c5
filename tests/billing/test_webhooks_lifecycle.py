"""Webhooks end to end: Stripe's signed deliveries (fixture shapes, from the loopback fake) posted to
dj-stripe's real endpoint, dj-stripe's re-fetches answered by the fake, our access record and mail after.
"""

from datetime import UTC, datetime

import pytest
from django.core import mail
from djstripe.models import Event, WebhookEventTrigger

from billing.models import Subscription
from tests.billing.fake_billing import deliver, start_checkout

DAY = 24 * 3600


def when(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def long_date(timestamp: int) -> str:
    moment = when(timestamp)
    return f"{moment.day} {moment:%B %Y}"


class Story:
    """One customer's subscription, driven through the fake Stripe and delivered as signed webhooks."""

    def __init__(self, client, fake, endpoint, committing):
        self.client, self.fake, self.endpoint, self.committing = client, fake, endpoint, committing
        self.subscription_id = None

    def deliver(self, events) -> None:
        with self.committing():
            responses = deliver(self.client, self.endpoint, *events)
        assert [r.status_code for r in responses] == [200] * len(events), [r.content for r in responses]

    def since(self, mark: int) -> list[dict]:
        return list(self.fake.events[mark:])

    def checkout(self, plan_code: str = "pro-monthly"):
        done = self.fake.complete_checkout(start_checkout(self.client, plan_code))
        self.subscription_id = done.subscription["id"]
        self.deliver(done.events)
        return done

    def portal(self, url: str, data: dict) -> None:
        mark = len(self.fake.events)
        with self.committing():
            response = self.client.post(url, data)
        assert response.status_code == 302
        self.deliver(self.since(mark))

    @property
    def record(self) -> Subscription:
        return Subscription.objects.select_related("plan").get(stripe_subscription_id=self.subscription_id)

    @property
    def remote(self) -> dict:
        return self.fake.get(self.subscription_id)


@pytest.fixture
def story(alice, fake, endpoint, committing):
    return Story(alice, fake, endpoint, committing)


def last_mail():
    assert mail.outbox, "no mail was sent"
    return mail.outbox[-1]


def test_the_whole_lifecycle_keeps_access_and_mails_each_step(story, user, fake):
    # Checkout completed and paid: access, "started" with the price and the renewal date.
    done = story.checkout()
    item = done.subscription["items"]["data"][0]
    record = story.record
    assert (record.status, record.plan.code, record.grants_access) == ("active", "pro-monthly", True)
    assert record.current_period_end == when(item["current_period_end"])
    assert record.stripe_customer_id == done.customer["id"]
    started = last_mail()
    assert (started.subject, started.to) == ("[Gatehouse] Your Pro subscription has started", ["alice@example.com"])
    assert "$19 per month" in started.body
    assert f"It renews on {long_date(item['current_period_end'])}" in started.body
    assert len(mail.outbox) == 1

    # Renewed: the period moves on, a receipt with the amount and the new end.
    fake.advance_time(31 * DAY)
    renewal = fake.renew(story.subscription_id)
    story.deliver(renewal.events)
    new_end = renewal.subscription["items"]["data"][0]["current_period_end"]
    assert story.record.current_period_end == when(new_end) > record.current_period_end
    renewed = last_mail()
    assert renewed.subject == "[Gatehouse] Your Pro subscription has renewed"
    assert "We received your payment of $19 for Pro." in renewed.body
    assert f"paid until {long_date(new_end)}" in renewed.body
    assert renewal.invoice["hosted_invoice_url"] in renewed.body

    # Payment failed at the next renewal: past_due keeps access; the mail links to the invoice to pay.
    fake.advance_time(31 * DAY)
    failure = fake.fail_payment(story.subscription_id)
    story.deliver(failure.events)
    assert (story.record.status, story.record.grants_access) == ("past_due", True)
    failed = last_mail()
    assert failed.subject == "[Gatehouse] Action needed: your Pro payment failed"
    assert "We could not collect $19 for your Pro subscription." in failed.body
    assert failure.invoice["hosted_invoice_url"] in failed.body
    assert failure.invoice["hosted_invoice_url"] in failed.alternatives[0][0]

    # Recovered: the retry is paid, the subscription is active again and the receipt says so.
    recovery = fake.pay_invoice(failure.invoice["id"])
    story.deliver(recovery.events)
    assert story.record.status == "active"
    assert last_mail().subject == "[Gatehouse] Your Pro subscription has renewed"

    # Plan changed in the portal: recorded from Stripe's answer, the webhooks that follow add nothing.
    count = len(mail.outbox)
    story.portal("/billing/subscription/change/", {"plan": "business-monthly", "proration_date": fake.now()})
    assert story.record.plan.code == "business-monthly"
    assert [m.subject for m in mail.outbox[count:]] == ["[Gatehouse] Your plan is now Business"]
    assert "moved from Pro to Business ($99 per month)" in last_mail().body

    # Cancellation scheduled: access until the period's end, said in the mail with the date.
    story.portal("/billing/subscription/cancel/", {})
    record = story.record
    assert (record.cancel_at_period_end, record.grants_access) == (True, True)
    period_end = story.remote["items"]["data"][0]["current_period_end"]
    scheduled = last_mail()
    assert scheduled.subject == f"[Gatehouse] Your Business subscription will end on {long_date(period_end)}"
    assert f"You keep access until {long_date(period_end)}" in scheduled.body
    assert [m.subject for m in mail.outbox[count:]].count(scheduled.subject) == 1

    # Ended at the period's end: no access, one "ended" mail with a way back.
    fake.advance_time(31 * DAY)
    ending = fake.end(story.subscription_id)
    story.deliver(ending.events)
    record = story.record
    assert (record.status, record.grants_access) == ("canceled", False)
    assert record.ended_at == when(ending.subscription["ended_at"])
    ended = last_mail()
    assert ended.subject == "[Gatehouse] Your Business subscription has ended"
    assert "/billing/pricing/" in ended.body
    assert all(m.to == ["alice@example.com"] for m in mail.outbox)
    assert len(mail.outbox) == count + 3


def test_every_duplicate_delivery_has_one_effect(story, fake):
    done = fake.complete_checkout(start_checkout(story.client))
    story.subscription_id = done.subscription["id"]
    events = list(done.events)
    for event in done.events:
        story.deliver([event, event])  # each event straight after itself
    fake.advance_time(31 * DAY)
    for step in (
        lambda: fake.fail_payment(story.subscription_id),
        lambda: fake.pay_invoice(fake.get(story.subscription_id)["latest_invoice"]),
        lambda: fake.end(story.subscription_id),
    ):
        happened = step()
        events += happened.events
        for event in happened.events:
            story.deliver([event, event])
    story.deliver(events)  # and the whole stream again, as Stripe's retries after an outage would

    assert Event.objects.count() == len(events)
    assert WebhookEventTrigger.objects.count() == len(events)  # a known event is answered before any write
    assert story.record.status == "canceled"
    assert [m.subject for m in mail.outbox] == [
        "[Gatehouse] Your Pro subscription has started",
        "[Gatehouse] Action needed: your Pro payment failed",
        "[Gatehouse] Your Pro subscription has renewed",
        "[Gatehouse] Your Pro subscription has ended",
    ]


def test_a_duplicate_is_answered_without_asking_stripe(story, fake):
    story.checkout()
    event = fake.events[-1]
    fake.requests.clear()

    (response,) = deliver(story.client, story.endpoint, event)

    assert (response.status_code, response.content) == (200, b"duplicate")
    assert fake.requests == []


@pytest.mark.parametrize("late", range(8))
def test_an_event_delivered_late_never_moves_state_backwards(story, fake, late):
    """Each of the lifecycle's deliveries in turn arrives after all the others."""
    done = fake.complete_checkout(start_checkout(story.client))
    story.subscription_id = done.subscription["id"]
    fake.advance_time(31 * DAY)
    renewal = fake.renew(story.subscription_id)
    steps = [done.event("customer.subscription.created"), done.event("checkout.session.completed")]
    steps += [renewal.event("invoice.paid"), renewal.event("customer.subscription.updated")]
    fake.advance_time(31 * DAY)
    failure = fake.fail_payment(story.subscription_id)
    steps += [failure.event("invoice.payment_failed"), failure.event("customer.subscription.updated")]
    ending = fake.end(story.subscription_id)
    steps += [ending.event("customer.subscription.deleted")]
    steps += [done.event("invoice.paid")]
    order = steps[:late] + steps[late + 1 :] + [steps[late]]

    seen = []
    for event in order:
        story.deliver([event])
        record = Subscription.objects.filter(stripe_subscription_id=story.subscription_id).first()
        if record is not None:
            seen.append((record.status, record.current_period_end))

    assert seen[-1][0] == "canceled"
    ends = [end for _status, end in seen]
    assert ends == sorted(ends)  # the period never goes back
    first_ended = next(i for i, (status, _end) in enumerate(seen) if status == "canceled")
    assert all(status == "canceled" for status, _end in seen[first_ended:])  # ended stays ended
    assert [m.subject for m in mail.outbox].count("[Gatehouse] Your Pro subscription has started") <= 1


def test_reversed_delivery_ends_in_stripes_final_state(story, fake):
    done = fake.complete_checkout(start_checkout(story.client))
    story.subscription_id = done.subscription["id"]
    fake.advance_time(31 * DAY)
    renewal = fake.renew(story.subscription_id)

    story.deliver(list(reversed(done.events + renewal.events)))

    record = story.record
    assert (record.status, record.current_period_end) == (
        "active",
        when(renewal.subscription["items"]["data"][0]["current_period_end"]),
    )
    # The user still hears about the start and the renewal, once each.
    assert sorted(m.subject for m in mail.outbox) == [
        "[Gatehouse] Your Pro subscription has renewed",
        "[Gatehouse] Your Pro subscription has started",
    ]


def test_a_payment_needing_confirmation_mails_the_link_to_confirm_it(story, fake):
    story.checkout()
    fake.advance_time(31 * DAY)
    failure = fake.fail_payment(story.subscription_id)
    story.deliver(failure.events)
    invoice_id = failure.invoice["id"]
    action = fake.event("invoice.payment_action_required", invoice_id)

    story.deliver([action, action])

    confirm = last_mail()
    assert confirm.subject == "[Gatehouse] Action needed: confirm your Pro payment"
    assert confirm.to == ["alice@example.com"]
    assert "confirm the payment of $19 for your Pro subscription" in confirm.body
    assert failure.invoice["hosted_invoice_url"] in confirm.body
    assert [m.subject for m in mail.outbox].count(confirm.subject) == 1
