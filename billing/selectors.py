"""Reads that billing pages and the API share."""

from django.conf import settings

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
    """The subscription to show on the subscription page: the one with access, else the newest."""
    return (
        Subscription.objects.select_related("plan")
        .filter(user=user, duplicate_of__isnull=True)
        .order_by("-created_at")
        .first()
    )
