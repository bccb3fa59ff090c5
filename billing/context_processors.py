from django.conf import settings


def billing(request):
    """Lets every page say plainly when Stripe keys are missing instead of failing later."""
    return {"billing_configured": settings.BILLING_CONFIGURED}
