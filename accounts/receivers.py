from allauth.account.signals import password_changed, password_reset, password_set
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts import tokens
from accounts.middleware import start_activity_period
from accounts.models import TokenFamily
from accounts.services import end_other_logins, end_sessions


@receiver([password_changed, password_set])
def end_other_sessions_on_password_change(sender, request, user, keep_token_family=None, **kwargs):
    # Django would refuse the other sessions on their next request (the password hash changed);
    # ending them now also clears them from the user's session list. allauth's portal views send
    # no `keep_token_family`, so every API login ends; services.change_password sends the API
    # login that made the change.
    session = getattr(request, "session", None)
    end_other_logins(
        user=user,
        keep_session_key=session.session_key if session is not None else None,
        keep_token_family=keep_token_family,
    )


@receiver(password_reset)
def end_all_sessions_on_password_reset(sender, request, user, **kwargs):
    end_sessions(user=user)
    tokens.revoke_all(user, reason=TokenFamily.RevokedReason.PASSWORD)


@receiver(user_logged_in)
def start_session_activity(sender, request, user, **kwargs):
    # allauth wrote the session row with "now" as it signed in: the next write is due in a minute.
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        start_activity_period(session.session_key)
