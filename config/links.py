"""Absolute links for mail, Stripe redirects and API answers: always from SITE_URL.

Never from the request's Host header: a link that leaves the site (a mail, a Stripe return URL)
must point at the configured site whatever Host a client sent.
"""

from django.conf import settings
from django.urls import reverse


def absolute_url(path: str) -> str:
    """SITE_URL + an absolute path (``/billing/subscription/``)."""
    return settings.SITE_URL + path


def absolute_reverse(viewname: str, *args, **kwargs) -> str:
    """SITE_URL + reverse(viewname, args=..., kwargs=...)."""
    return absolute_url(reverse(viewname, args=args or None, kwargs=kwargs or None))
