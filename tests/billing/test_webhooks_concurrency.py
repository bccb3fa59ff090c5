"""Concurrent deliveries on PostgreSQL: real threads, real connections, real commits."""

import threading
import time

import pytest
from django.db import connection
from django.test import Client
from djstripe.models import Event
from rest_framework.test import APIClient

from billing.models import Subscription
from mail.models import OutboundEmail
from tests.api.conftest import bearer, login
from tests.billing.fake_billing import deliver, start_checkout

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_plans():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (the SQLite test database is per connection)")


@pytest.fixture
def shopper(demo_plans, fake, user):
    client = Client()
    client.force_login(user)
    return client


def at_once(*jobs):
    """Run each job in its own thread (own database connection), released together; their results."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait()
            results[index] = job()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def slow_refetch(fake, times: int = 2) -> None:
    """dj-stripe's next re-fetches of a subscription take 0.3 s: both deliveries are in flight together."""
    fake.timeout_next(seconds=0.3, times=times, path_prefix="/v1/subscriptions/", method="GET", process=True)


def statuses(responses) -> list[int]:
    return [r.status_code for r in responses]


def test_the_same_event_delivered_twice_at_once_has_one_effect(shopper, fake, endpoint):
    done = fake.complete_checkout(start_checkout(shopper))
    event = done.event("customer.subscription.created")
    slow_refetch(fake)

    results = at_once(lambda: deliver(Client(), endpoint, event), lambda: deliver(Client(), endpoint, event))

    assert [statuses(r) for r in results] == [[200], [200]]
    assert Event.objects.filter(id=event["id"]).count() == 1
    assert Subscription.objects.get().status == "active"
    assert OutboundEmail.objects.filter(subject__endswith="subscription has started").count() == 1


def test_two_whole_streams_at_once_leave_one_record_and_one_mail_per_fact(shopper, fake, endpoint):
    done = fake.complete_checkout(start_checkout(shopper))

    results = at_once(
        lambda: deliver(Client(), endpoint, *done.events), lambda: deliver(Client(), endpoint, *done.events)
    )

    assert all(set(statuses(r)) == {200} for r in results)
    assert Event.objects.count() == len(done.events)
    assert Subscription.objects.count() == 1
    assert OutboundEmail.objects.count() == 1


def test_two_checkouts_completed_at_once_give_access_once_and_refund_the_other(shopper, fake, endpoint):
    sessions = start_checkout(shopper, "pro-monthly"), start_checkout(shopper, "business-monthly")
    first, second = (fake.complete_checkout(s) for s in sessions)
    slow_refetch(fake)

    results = at_once(
        lambda: deliver(Client(), endpoint, first.event("customer.subscription.created")),
        lambda: deliver(Client(), endpoint, second.event("customer.subscription.created")),
    )

    assert [statuses(r) for r in results] == [[200], [200]]
    with_access = [s for s in Subscription.objects.all() if s.grants_access]
    assert len(with_access) == 1
    extra = Subscription.objects.get(duplicate_of=with_access[0])
    assert extra.status == "canceled"  # the task ran on commit: canceled in Stripe and recorded
    assert fake.get(extra.stripe_subscription_id)["status"] == "canceled"
    assert len(fake.all("refund")) == 1
    subjects = list(OutboundEmail.objects.values_list("subject", flat=True))
    assert sum("has started" in s for s in subjects) == 1
    assert sum("refunded a duplicate" in s for s in subjects) == 1


# --- A late re-fetch against the portal's own change (issue 14, item 4) ---------------------------


def subscribed_through_webhooks(shopper, fake, endpoint) -> str:
    """alice paid for Pro and Stripe's deliveries recorded it; the Stripe subscription's id."""
    done = fake.complete_checkout(start_checkout(shopper))
    assert set(statuses(deliver(Client(), endpoint, *done.events))) == {200}
    return done.subscription["id"]


def in_flight_refetch(background, fake, endpoint, sub_id):
    """A customer.subscription.updated (an edit in Stripe's dashboard) whose re-fetch Stripe answers
    on arrival, with Pro, but whose answer is held back; the delivery runs in its own thread."""
    fake.call("POST", f"/v1/subscriptions/{sub_id}", metadata={"note": "edited in the dashboard"})
    event = fake.events_of_type("customer.subscription.updated")[-1]
    held = fake.hold_next(method="GET", path_prefix=f"/v1/subscriptions/{sub_id}")
    delivery = background(lambda: deliver(Client(), endpoint, event))
    assert held.wait_until_arrived(), "dj-stripe's re-fetch never reached Stripe"
    return held, delivery


class Thread(threading.Thread):
    """A job in its own thread and database connection; its result in ``result``."""

    def __init__(self, job):
        super().__init__(daemon=True)
        self.job, self.result = job, None
        self.start()

    def run(self):
        try:
            self.result = self.job()
        finally:
            connection.close()


@pytest.fixture
def background(fake):
    """Start jobs in threads; at the end, held answers are released and every job is waited for
    (before the database is flushed), also when the test failed half-way."""
    started = []

    def start(job):
        started.append(Thread(job))
        return started[-1]

    yield start
    fake._release_held()
    for thread in started:
        thread.join(timeout=30)


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def modified(fake, sub_id, param: str) -> bool:
    return any(param in call.params for call in fake.calls("POST", f"/v1/subscriptions/{sub_id}"))


def plan_changed_mails() -> list[str]:
    return list(OutboundEmail.objects.filter(subject__contains="Your plan is now").values_list("subject", flat=True))


def test_a_late_refetch_does_not_undo_the_upgrade_the_customer_made_meanwhile(
    shopper, fake, endpoint, settings, background
):
    settings.API_RATE_LIMIT_DEFAULT = "1000/m"
    sub_id = subscribed_through_webhooks(shopper, fake, endpoint)
    member = bearer(APIClient(), login(APIClient())["token"])
    held, delivery = in_flight_refetch(background, fake, endpoint, sub_id)
    news_before = len(fake.events)

    upgrade = background(
        lambda: member.post("/api/billing/subscriptions/upgrade", {"plan_code": "business-monthly"}, format="json")
    )
    wait_for(lambda: modified(fake, sub_id, "items"))  # Stripe has made the change...
    upgrade.join(timeout=0.5)
    held.release()  # ...and only then does the re-fetch's answer (Pro) arrive
    delivery.join(timeout=30)
    upgrade.join(timeout=30)

    assert statuses(delivery.result) == [200]
    assert upgrade.result.status_code == 200, upgrade.result.content
    assert upgrade.result.json()["plan"]["code"] == "business-monthly"
    assert member.get("/api/billing/subscriptions/me").json()["plan"]["code"] == "business-monthly"
    # Then Stripe's deliveries about the change itself: nothing new.
    assert set(statuses(deliver(Client(), endpoint, *fake.events[news_before:]))) == {200}
    assert Subscription.objects.get().plan.code == "business-monthly"
    assert plan_changed_mails() == ["[Gatehouse] Your plan is now Business"]


def test_cancelling_waits_for_the_customers_delivery_in_flight_then_records_stripes_answer(
    shopper, fake, endpoint, background
):
    sub_id = subscribed_through_webhooks(shopper, fake, endpoint)
    held, delivery = in_flight_refetch(background, fake, endpoint, sub_id)

    cancel = background(lambda: shopper.post("/billing/subscription/cancel/"))
    wait_for(lambda: modified(fake, sub_id, "cancel_at_period_end"))
    cancel.join(timeout=0.5)
    assert cancel.is_alive(), "recorded Stripe's answer while a delivery for the customer held its lock"
    held.release()
    delivery.join(timeout=30)
    cancel.join(timeout=30)

    assert statuses(delivery.result) == [200]
    assert cancel.result.status_code == 302
    record = Subscription.objects.get()
    assert (record.plan.code, record.cancel_at_period_end) == ("pro-monthly", True)
    subjects = list(OutboundEmail.objects.values_list("subject", flat=True))
    assert sum("subscription will end on" in s for s in subjects) == 1
