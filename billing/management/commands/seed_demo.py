"""Demo data for `make screenshots`: one user in each state the portal shows, without Stripe.

    python manage.py seed_demo [--password PASSWORD]

Refuses to run in production and on a database that already has users: it is for a throwaway
database (scripts/screenshots.py makes one in a temporary folder), never a developer's or a real one.
Every user's password is the one given (DEMO_PASSWORD by default) and their address is verified:

- ``free``: no subscription (the free plan);
- ``pro``: Pro, active, renewing, with two paid invoices;
- ``late``: Pro, past due: the renewal failed and its invoice is open, Stripe retries in three days;
- ``leaving``: Pro, cancelled at the end of the period, access until then;
- ``staff``: a superuser, for the admin.

The subscriptions are our own access records (billing.Subscription) and the invoices dj-stripe
mirror rows, written here as a webhook would have left them; nothing is sent to Stripe.
"""

from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from djstripe.models import Customer, Invoice

from accounts.models import Profile
from billing.models import Plan, Subscription, SubscriptionStatus

DEMO_PASSWORD = "demo-password-1234"  # noqa: S105 - the demo accounts' published password
DAY = timedelta(days=1)
# Who gets a Pro subscription, in which state, and how the period stands today.
SUBSCRIBERS = {
    "pro": {"status": SubscriptionStatus.ACTIVE, "cancel_at_period_end": False},
    "late": {"status": SubscriptionStatus.PAST_DUE, "cancel_at_period_end": False},
    "leaving": {"status": SubscriptionStatus.ACTIVE, "cancel_at_period_end": True},
}


class Command(BaseCommand):
    help = "Seed a throwaway database with demo users: free, Pro, past due, cancelling, staff."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD, help="every demo user's password")

    def handle(self, *args, password, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo is for a throwaway database; it refuses to run with DJANGO_ENV=production.")
        if get_user_model().objects.exists():
            raise CommandError("This database already has users; seed_demo only fills an empty one.")
        with transaction.atomic():
            seed_demo(now=timezone.now(), password=password)
        self.stdout.write(f"Seeded demo users free, pro, late, leaving, staff (password {password}).")


def seed_demo(*, now, password: str) -> None:
    pro = Plan.objects.get(code="pro-monthly")
    _user("free", "Ada Free", password)
    _user("staff", "Sam Staff", password, is_staff=True, is_superuser=True)
    for username, state in SUBSCRIBERS.items():
        user = _user(username, f"{username.title()} Subscriber", password)
        _subscribe(user, pro, now=now, **state)


def _user(username: str, full_name: str, password: str, **flags):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", password, **flags)
    profile = Profile.objects.for_user(user)
    profile.first_name, profile.last_name = full_name.split()
    profile.save(update_fields=["first_name", "last_name"])
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


def _subscribe(user, plan: Plan, *, now, status: str, cancel_at_period_end: bool) -> None:
    customer = Customer.objects.create(
        id=f"cus_demo{user.username}",
        subscriber=user,
        email=user.email,
        livemode=settings.STRIPE_LIVE_MODE,
        stripe_data={"id": f"cus_demo{user.username}", "object": "customer", "email": user.email},
    )
    # A past-due subscription's period has just rolled over; the others are mid-period.
    start = now - (2 * DAY if status == SubscriptionStatus.PAST_DUE else 12 * DAY)
    subscription_id = f"sub_demo{user.username}"
    Subscription.objects.create(
        user=user,
        plan=plan,
        stripe_subscription_id=subscription_id,
        stripe_customer_id=customer.id,
        status=status,
        current_period_start=start,
        current_period_end=start + 30 * DAY,
        cancel_at_period_end=cancel_at_period_end,
        canceled_at=now - DAY if cancel_at_period_end else None,
        stripe_updated_at=now,
    )
    paid = [start - 60 * DAY, start - 30 * DAY]
    if status != SubscriptionStatus.PAST_DUE:
        paid.append(start)
    for number, created in enumerate(paid, start=1):
        _invoice(customer, plan, subscription_id, number, created, status="paid")
    if status == SubscriptionStatus.PAST_DUE:
        _invoice(customer, plan, subscription_id, len(paid) + 1, start, status="open", retry_at=now + 3 * DAY)


def _invoice(customer, plan, subscription_id, number, created, *, status, retry_at=None) -> None:
    invoice_id = f"in_demo{customer.subscriber.username}{number}"
    Invoice.objects.create(
        id=invoice_id,
        customer=customer,
        livemode=customer.livemode,
        created=created,
        stripe_data={
            "id": invoice_id,
            "object": "invoice",
            "number": f"DEMO-{customer.subscriber.username.upper()}-{number:04d}",
            "amount_due": plan.price_cents,
            "currency": plan.currency,
            "status": status,
            "created": int(created.timestamp()),
            "customer": customer.id,
            "hosted_invoice_url": f"https://invoice.stripe.com/i/demo/{invoice_id}",
            "invoice_pdf": f"https://pay.stripe.com/invoice/demo/{invoice_id}/pdf",
            "next_payment_attempt": int(retry_at.timestamp()) if retry_at else None,
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": subscription_id}},
        },
    )
