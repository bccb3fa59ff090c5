"""Reads that billing pages and the API share."""

from django.conf import settings

from billing.access import access_subscription
from billing.models import Subscription


def invoices_for(user, *, limit: int = 100):
    """The user's invoices from dj-stripe's mirror, newest first, in one query."""
    from djstripe.models import Invoice

    return list(
        Invoice.objects.filter(customer__subscriber=user, livemode=settings.STRIPE_LIVE_MODE).order_by("-created")[
            :limit
        ]
    )


def latest_subscription(user) -> Subscription | None:
    """The subscription to show on the subscription page: the one with access, else the newest.

    The one with access is the nav's too (read once per user object), so a subscriber's page
    costs no query of its own here.
    """
    return (
        access_subscription(user)
        or Subscription.objects.select_related("plan")
        .filter(user=user, duplicate_of__isnull=True)
        .order_by("-created_at")
        .first()
    )
