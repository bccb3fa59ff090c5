from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from billing.access import has_access
from billing.models import Plan, Subscription, SubscriptionStatus

pytestmark = pytest.mark.django_db


def subscribe(user, code="pro-monthly", status=SubscriptionStatus.ACTIVE, ends_in=timedelta(days=20), sub_id="sub_1"):
    return Subscription.objects.create(
        user=user,
        plan=Plan.objects.get(code=code),
        stripe_subscription_id=sub_id,
        status=status,
        current_period_start=timezone.now() - timedelta(days=10),
        current_period_end=timezone.now() + ends_in,
    )


def test_the_demo_plans_arrive_with_the_migrations():
    assert list(Plan.objects.active().values_list("code", "tier", "price_cents")) == [
        ("free", "free", 0),
        ("pro-monthly", "pro", 1900),
        ("business-monthly", "business", 9900),
    ]


def test_every_active_user_has_the_free_tier(user):
    assert has_access(user, "free")
    assert not has_access(user, "pro")


def test_a_tier_includes_the_tiers_below(user):
    subscribe(user, "business-monthly")
    assert has_access(user, "pro")
    assert has_access(user, "business")


def test_a_lower_tier_does_not_open_a_higher_one(user):
    subscribe(user, "pro-monthly")
    assert has_access(user, "pro")
    assert not has_access(user, "business")


def test_past_due_keeps_access_while_stripe_retries(user):
    subscribe(user, status=SubscriptionStatus.PAST_DUE)
    assert has_access(user, "pro")


def test_canceled_gives_no_access(user):
    subscribe(user, status=SubscriptionStatus.CANCELED)
    assert not has_access(user, "pro")


def test_access_lasts_the_grace_period_past_the_period_end(user, settings):
    settings.BILLING_GRACE_PERIOD = timedelta(hours=24)
    subscribe(user, ends_in=-timedelta(hours=23))
    assert has_access(user, "pro")
    Subscription.objects.update(current_period_end=timezone.now() - timedelta(hours=25))
    assert not has_access(User.objects.get(pk=user.pk), "pro")


def test_a_deactivated_user_has_no_access(user):
    subscribe(user)
    user.is_active = False
    assert not has_access(user, "pro")


def test_the_database_allows_one_subscription_with_access_per_user(user):
    subscribe(user, sub_id="sub_1")
    with pytest.raises(IntegrityError), transaction.atomic():
        subscribe(user, sub_id="sub_2", status=SubscriptionStatus.TRIALING)
    subscribe(user, sub_id="sub_3", status=SubscriptionStatus.CANCELED)
    assert Subscription.objects.filter(user=user).count() == 2


def test_the_access_check_reads_the_database_once_per_user_object(user, django_assert_num_queries):
    subscribe(user)
    with django_assert_num_queries(1):
        assert has_access(user, "pro")
        assert has_access(user, "business") is False


def test_the_nav_shows_the_reports_link_only_to_subscribers(client, user):
    client.force_login(user)
    assert 'href="/billing/reports/"' not in client.get("/").content.decode()
    subscribe(user)
    assert 'href="/billing/reports/"' in client.get("/").content.decode()
