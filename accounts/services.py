"""Account workflows shared by the portal, the admin and the API."""

from types import SimpleNamespace

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.usersessions.adapter import get_adapter as get_sessions_adapter
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.sites.requests import RequestSite
from django.db import transaction

from accounts.adapters import enqueue_email
from accounts.models import User


def current_site(request=None):
    """The site named in mail: the request's host, or SITE_URL's outside a request."""
    if request is not None:
        return RequestSite(request)
    host = settings.SITE_URL.split("://", 1)[-1]
    return SimpleNamespace(name=host, domain=host)


def end_sessions(*, user: User, keep_session_key: str | None = None) -> int:
    """End the user's browser sessions (all, or all but the given one). Returns how many ended."""
    sessions = [s for s in UserSession.objects.filter(user=user) if s.session_key != keep_session_key]
    get_sessions_adapter().end_sessions(sessions)
    return len(sessions)


def deactivate_account(*, user: User, request=None) -> None:
    """Switch the account off: no sign-in by any path, every session ended, the owner told.

    Django refuses inactive users on every request (ModelBackend.get_user), so a session that
    escaped end_sessions() is dead anyway; ending them also removes them from the session list.
    """
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        end_sessions(user=user)
        if user.email:
            context = {"user": user, "current_site": current_site(request)}
            message = get_account_adapter(request).render_mail("account/email/account_deactivated", user.email, context)
            enqueue_email(message)
