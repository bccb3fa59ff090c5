"""Daily housekeeping: credentials past their end are deleted, nothing else is touched."""

from django.core.management import call_command
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import LoginChallenge, LoginCode, SocialHandoff, TokenFamily


def delete_expired_credentials(*, now=None) -> dict[str, int]:
    """Delete refresh tokens, API logins, login codes, social hand-offs and sign-in challenges (the
    second step, passkeys) that can no longer be used.

    Expired refresh tokens (and their blacklist entries) go through simplejwt's own
    ``flushexpiredtokens``, so its rules stay the library's. Returns how many rows of each went.
    """
    now = now or timezone.now()
    tokens_before = OutstandingToken.objects.count()
    call_command("flushexpiredtokens")
    return {
        "outstanding_tokens": tokens_before - OutstandingToken.objects.count(),
        # A family past its absolute end refuses every token (accounts.tokens.rotate), revoked or not.
        "token_families": _delete(TokenFamily.objects.filter(expires_at__lte=now)),
        "login_codes": _delete(LoginCode.objects.filter(expires_at__lte=now)),
        "social_handoffs": _delete(SocialHandoff.objects.filter(expires_at__lte=now)),
        "login_challenges": _delete(LoginChallenge.objects.filter(expires_at__lte=now)),
    }


def _delete(queryset) -> int:
    return queryset.delete()[1].get(queryset.model._meta.label, 0)
