"""Who may use what: one check behind the view decorator, the DRF permission and the template tag."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from rest_framework.permissions import BasePermission

from billing.models import TIER_RANK, Subscription, Tier

_CACHE_ATTR = "_billing_access_subscription"


def access_subscription(user) -> Subscription | None:
    """The user's subscription with access, if any (read once per user object)."""
    if not getattr(user, "is_authenticated", False):
        return None
    if not hasattr(user, _CACHE_ATTR):
        subscription = Subscription.objects.with_access().select_related("plan").filter(user=user).first()
        setattr(user, _CACHE_ATTR, subscription)
    return getattr(user, _CACHE_ATTR)


def forget_access(user) -> None:
    """Drop what access_subscription read for this user object: the next call reads the record again."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def has_access(user, tier: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    needed = TIER_RANK[Tier(tier)]
    if needed == 0:
        return True
    subscription = access_subscription(user)
    if subscription is None or subscription.plan.rank < needed:
        return False
    end = subscription.current_period_end
    return end is None or end + settings.BILLING_GRACE_PERIOD > timezone.now()


def tier_required(tier: str):
    """View decorator: signed-in users below the tier are sent to the pricing page with a message."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_access(request.user, tier):
                messages.info(request, f"This page is part of the {Tier(tier).label} plan and above.")
                # The pricing page highlights the plan that opens it (?needs=<tier>).
                return redirect(f"{reverse('billing_pricing')}?{urlencode({'needs': tier})}")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def HasTier(tier: str):  # noqa: N802 - reads like a permission class at the use site
    class _HasTier(BasePermission):
        message = f"This needs the {Tier(tier).label} plan or above."

        def has_permission(self, request, view):
            return has_access(request.user, tier)

    _HasTier.__name__ = f"HasTier_{tier}"
    return _HasTier
