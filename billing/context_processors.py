from billing import stripe_gateway


def billing(request):
    """Lets every page say plainly when Stripe keys are missing instead of failing later."""
    return {"billing_configured": stripe_gateway.is_configured()}
