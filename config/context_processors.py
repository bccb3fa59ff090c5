from django.conf import settings


def support(request):
    """Every page that says "contact us" links to the same address (SUPPORT_EMAIL)."""
    return {"support_email": settings.SUPPORT_EMAIL}
