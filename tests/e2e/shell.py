"""Helpers for the portal-shell browser tests: the cast signed in without the sign-in form, the two
screen sizes of issue 15, and the access records the cast starts from (no Stripe involved)."""

from datetime import timedelta

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from billing.models import Plan, Subscription, SubscriptionStatus
from tests.billing.fake_billing import ensure_demo_plans
from tests.factories import UserFactory
from tests.mfa_helpers import enrol_totp, mark_reauthenticated, sign_in_with_second_factor

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = {"desktop": DESKTOP, "phone": PHONE}


def sign_in(context, live_server, user, *, reauthenticated: bool = False) -> None:
    """Give the browser context a session for ``user`` (the sign-in form has its own tests); for
    someone with an authenticator app, one that passed it (staff need that for the admin).
    `reauthenticated`: the password was just confirmed again, as pages that change addresses or the
    password ask first (allauth's reauthentication)."""
    client = Client()
    if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        sign_in_with_second_factor(client, user)
    else:
        client.force_login(user)
    if reauthenticated:
        mark_reauthenticated(client, user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def subscribe(user, plan_code: str = "pro-monthly", status: str = SubscriptionStatus.ACTIVE) -> Subscription:
    """An access record as the webhook would have written it."""
    ensure_demo_plans()
    now = timezone.now()
    return Subscription.objects.create(
        user=user,
        plan=Plan.objects.get(code=plan_code),
        stripe_subscription_id=f"sub_{user.username}",
        stripe_customer_id=f"cus_{user.username}",
        status=status,
        current_period_start=now - timedelta(days=3),
        current_period_end=now + timedelta(days=27),
    )


def free_user(username: str = "frida"):
    return UserFactory(username=username, email=f"{username}@example.com")


def staff_user(username: str = "stella"):
    """A staff member, with the authenticator app staff must have (accounts.mfa)."""
    staffer = UserFactory(username=username, email=f"{username}@example.com", is_staff=True, is_superuser=True)
    enrol_totp(staffer)
    return staffer


def top_of(page, selector: str) -> float:
    """Where the element starts, in CSS pixels from the top of the document."""
    return page.locator(selector).first.evaluate("(node) => node.getBoundingClientRect().top + window.scrollY")
