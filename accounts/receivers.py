from allauth.account.signals import password_changed, password_reset, password_set
from django.dispatch import receiver

from accounts.services import end_sessions


@receiver([password_changed, password_set])
def end_other_sessions_on_password_change(sender, request, user, **kwargs):
    # Django would refuse the other sessions on their next request (the password hash changed);
    # ending them now also clears them from the user's session list.
    end_sessions(user=user, keep_session_key=request.session.session_key)


@receiver(password_reset)
def end_all_sessions_on_password_reset(sender, request, user, **kwargs):
    end_sessions(user=user)
