from allauth.account.signals import password_changed, password_reset, password_set
from django.dispatch import receiver

from accounts import tokens
from accounts.models import TokenFamily
from accounts.services import end_sessions


@receiver([password_changed, password_set])
def end_other_sessions_on_password_change(sender, request, user, **kwargs):
    # Django would refuse the other sessions on their next request (the password hash changed);
    # ending them now also clears them from the user's session list. API logins end too, except
    # the one that made the change (when it came through the API).
    session = getattr(request, "session", None)
    end_sessions(user=user, keep_session_key=session.session_key if session is not None else None)
    keep = getattr(request, "token_family_id", None)
    tokens.revoke_all(user, reason=TokenFamily.RevokedReason.PASSWORD, keep_family=keep)


@receiver(password_reset)
def end_all_sessions_on_password_reset(sender, request, user, **kwargs):
    end_sessions(user=user)
    tokens.revoke_all(user, reason=TokenFamily.RevokedReason.PASSWORD)
