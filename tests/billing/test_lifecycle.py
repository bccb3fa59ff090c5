"""billing.lifecycle.apply_stripe_subscription: the compare-and-set every path goes through."""

import copy
from datetime import timedelta

from django.core import mail
from django.utils import timezone

from billing.lifecycle import apply_stripe_subscription
from billing.models import Subscription
from tests.billing.fake_billing import start_checkout


def paid_subscription(alice, fake) -> dict:
    return fake.complete_checkout(start_checkout(alice)).subscription


def test_it_records_a_new_subscription_with_the_period_of_its_item(alice, user, fake, committing):
    remote = paid_subscription(alice, fake)
    item = remote["items"]["data"][0]

    with committing():
        record = apply_stripe_subscription(remote, seen_at=timezone.now())

    assert (record.user, record.plan.code, record.status) == (user, "pro-monthly", "active")
    assert int(record.current_period_start.timestamp()) == item["current_period_start"]
    assert int(record.current_period_end.timestamp()) == item["current_period_end"]
    assert len(mail.outbox) == 1


def test_older_news_never_overwrites_newer(alice, fake, committing):
    remote = paid_subscription(alice, fake)
    now = timezone.now()
    canceled = copy.deepcopy(remote) | {"status": "canceled", "ended_at": int(now.timestamp())}
    with committing():
        apply_stripe_subscription(canceled, seen_at=now)
        record = apply_stripe_subscription(remote, seen_at=now - timedelta(seconds=1))

    record.refresh_from_db()
    assert record.status == "canceled"
    assert record.stripe_updated_at == now
    assert mail.outbox == []  # it never had access here, so nothing started or ended


def test_news_read_at_the_same_moment_is_applied(alice, fake):
    remote = paid_subscription(alice, fake)
    now = timezone.now()
    apply_stripe_subscription(remote, seen_at=now)
    record = apply_stripe_subscription(remote | {"cancel_at_period_end": True}, seen_at=now)

    assert record.cancel_at_period_end is True


def test_a_cancel_at_date_counts_as_a_scheduled_end(alice, fake):
    remote = paid_subscription(alice, fake)
    record = apply_stripe_subscription(remote | {"cancel_at": remote["created"] + 86400}, seen_at=timezone.now())

    assert record.cancel_at_period_end is True


def test_a_subscription_that_is_not_ours_is_ignored(alice, fake):
    remote = paid_subscription(alice, fake)
    stranger = copy.deepcopy(remote)
    stranger["metadata"] = {}
    stranger["customer"] = "cus_someone_else"
    unknown_price = copy.deepcopy(remote)
    unknown_price["items"]["data"][0]["price"] |= {"id": "price_elsewhere", "product": "prod_elsewhere"}

    assert apply_stripe_subscription(stranger, seen_at=timezone.now()) is None
    assert apply_stripe_subscription(unknown_price, seen_at=timezone.now()) is None
    assert not Subscription.objects.exists()
