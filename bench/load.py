"""Realistic data for `make bench`, written with bulk_create into the freshly migrated bench database.

10,000 users (each with a Profile and a verified EmailAddress, as every real sign-up has), the 3
demo plans from the data migration, 5,000 access records (billing.Subscription) with their
dj-stripe Customer and one invoice each, and the measured user with 20 invoices. Called by
bench/run.py after Django is set up with bench.settings.
"""

import random
from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts import tokens
from accounts.models import Profile
from billing.models import Plan, Subscription, SubscriptionStatus
from tests.fake_stripe import objects as stripe_objects

BENCH_USERNAME = "bench"
BENCH_EMAIL = "bench@example.com"
BENCH_PASSWORD = "bench-password-correct-horse"  # noqa: S105 - a throwaway account in a throwaway database
BATCH = 2_000


@dataclass
class Loaded:
    user_id: int
    users: int
    subscriptions: int
    invoices: int
    measured_user_invoices: int
    session_cookie: str
    access_token: str
    refresh_tokens: list


def load(*, users: int = 10_000, subscriptions: int = 5_000, invoices: int = 20, refresh_tokens: int = 0) -> Loaded:
    rng = random.Random(8)  # noqa: S311 - a repeatable data set, not a secret
    now = timezone.now()
    plans = _plans()
    with transaction.atomic():
        people = _users(users, now)
        subscribers = people[:subscriptions]  # people[0] is the measured user
        _subscriptions(subscribers, plans, now, rng)
        customers = _customers(subscribers, now)
        total_invoices = _invoices(customers, now, measured=invoices)
    return Loaded(
        user_id=people[0].pk,
        users=len(people),
        subscriptions=len(subscribers),
        invoices=total_invoices,
        measured_user_invoices=invoices,
        session_cookie=_session_for(people[0]),
        access_token=tokens.start_login(people[0]).access,  # what POST /api/login returns, without the hash
        refresh_tokens=mint_refresh_tokens(people[:500], refresh_tokens),
    )


def _plans() -> dict:
    """The demo plans (free, pro-monthly, business-monthly) from the data migration, looking synced."""
    plans = {plan.code: plan for plan in Plan.objects.all()}
    assert set(plans) >= {"free", "pro-monthly", "business-monthly"}, f"demo plans missing: {sorted(plans)}"
    for code in ("pro-monthly", "business-monthly"):  # unless bench/webhooks.py synced them to the fake Stripe
        Plan.objects.filter(code=code, stripe_price_id__isnull=True).update(
            stripe_product_id=f"prod_bench_{code}", stripe_price_id=f"price_bench_{code}"
        )
    return plans


def _users(count: int, now) -> list:
    user_model = get_user_model()
    # One Argon2 hash for everyone: 10,000 hashes would take minutes and measure nothing.
    password = make_password(BENCH_PASSWORD)
    names = [BENCH_USERNAME] + [f"user{n:05d}" for n in range(1, count)]
    people = user_model.objects.bulk_create(
        [user_model(username=name, email=f"{name}@example.com", password=password, date_joined=now) for name in names],
        batch_size=BATCH,
    )
    Profile.objects.bulk_create(
        [Profile(user=person, first_name=person.username.title(), last_name="Bench") for person in people],
        batch_size=BATCH,
    )
    EmailAddress.objects.bulk_create(
        [EmailAddress(user=person, email=person.email, primary=True, verified=True) for person in people],
        batch_size=BATCH,
    )
    return people


def _subscriptions(subscribers: list, plans: dict, now, rng: random.Random) -> None:
    paid = [plans["pro-monthly"], plans["business-monthly"]]
    rows = []
    for n, person in enumerate(subscribers):
        canceled = n > 0 and rng.random() < 0.1
        start = now - timedelta(days=rng.randint(0, 29))
        rows.append(
            Subscription(
                user=person,
                plan=plans["pro-monthly"] if n == 0 else rng.choice(paid),
                stripe_subscription_id=f"sub_bench{n:06d}",
                stripe_customer_id=f"cus_bench{n:06d}",
                status=SubscriptionStatus.CANCELED if canceled else SubscriptionStatus.ACTIVE,
                current_period_start=start,
                current_period_end=start + timedelta(days=30),
                canceled_at=now - timedelta(days=1) if canceled else None,
                ended_at=now - timedelta(days=1) if canceled else None,
                stripe_updated_at=start,
            )
        )
    Subscription.objects.bulk_create(rows, batch_size=BATCH)


def _customers(subscribers: list, now) -> list:
    from djstripe.models import Customer

    rows = [customer_row(person, n, now) for n, person in enumerate(subscribers)]
    return Customer.objects.bulk_create(rows, batch_size=BATCH)


def customer_row(person, n: int, now):
    """An unsaved dj-stripe Customer for `person`, shaped like Stripe's (the fake's fixture)."""
    from djstripe.models import Customer

    data = stripe_objects.customer(f"cus_bench{n:06d}", int(now.timestamp()), prefix=f"B{n:06d}")
    data["email"] = person.email
    return Customer(
        id=data["id"],
        livemode=settings.STRIPE_LIVE_MODE,
        created=now,
        email=person.email,
        subscriber=person,
        stripe_data=data,
        metadata={},
    )


def _invoices(customers: list, now, *, measured: int) -> int:
    """`measured` monthly paid invoices for the measured user (customers[0]), one for everyone else."""
    from djstripe.models import Invoice

    rows = []
    for n, customer in enumerate(customers):
        for month in range(measured if n == 0 else 1):
            number = f"{customer.stripe_data['invoice_prefix']}-{month + 1:04d}"
            rows.append(invoice_row(customer, now - timedelta(days=30 * month), number=number))
    Invoice.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def invoice_row(customer, created, *, number: str):
    """An unsaved paid dj-stripe Invoice of `customer`, shaped like Stripe's (the fake's fixture)."""
    from djstripe.models import Invoice

    invoice_id = f"in_bench_{number.replace('-', '_')}"
    data = stripe_objects.invoice(
        invoice_id, int(created.timestamp()), customer_obj=customer.stripe_data, currency="usd"
    )
    data.update(
        status="paid",
        number=number,
        amount_due=1900,
        amount_paid=1900,
        amount_remaining=0,
        subtotal=1900,
        total=1900,
        hosted_invoice_url=f"https://invoice.stripe.com/i/{invoice_id}",
        invoice_pdf=f"https://pay.stripe.com/invoice/{invoice_id}/pdf",
    )
    return Invoice(
        id=invoice_id,
        livemode=settings.STRIPE_LIVE_MODE,
        created=created,
        customer=customer,
        stripe_data=data,
        metadata={},
    )


def _session_for(person) -> str:
    """A signed-in portal session (what the login form leaves behind), as its cookie value."""
    client = Client()
    client.force_login(person)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def mint_refresh_tokens(people: list, count: int) -> list:
    """`count` refresh tokens, each the first of its own login, through the app's own token code."""
    with transaction.atomic():
        return [tokens.start_login(people[n % len(people)]).refresh for n in range(count)]
