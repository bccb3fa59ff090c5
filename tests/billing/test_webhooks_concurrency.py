"""Concurrent deliveries on PostgreSQL: real threads, real connections, real commits."""

import threading

import pytest
from django.db import connection
from django.test import Client
from djstripe.models import Event

from billing.models import Subscription
from mail.models import OutboundEmail
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
