from allauth.account import signals as account_signals
from allauth.account.signals import password_changed, password_reset, password_set
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from accounts import allauth_internals, security, tokens
from accounts.middleware import start_activity_period
from accounts.models import TokenFamily
from accounts.services import end_other_logins, end_sessions

Kind = security.Kind


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


# --- The security history (accounts.security): one receiver per fact, each recorded once. ---

APP_SOCIAL_FLOW_SESSION_KEY = "api_social_next"  # set by accounts.api.views.SocialLoginView
PASSWORD_EVENTS = {password_changed: Kind.PASSWORD_CHANGED, password_set: Kind.PASSWORD_SET}


@receiver([password_changed, password_set])
def record_password_change(sender, signal, request, user, **kwargs):
    kind = PASSWORD_EVENTS[signal]
    security.record_event(user=user, kind=kind, request=request, dedupe_key=security.password_dedupe_key(kind, user))


@receiver(password_reset)
def record_password_reset(sender, request, user, **kwargs):
    key = security.password_dedupe_key(Kind.PASSWORD_RESET, user)
    security.record_event(user=user, kind=Kind.PASSWORD_RESET, request=request, dedupe_key=key)


@receiver(account_signals.user_logged_in)
def record_portal_sign_in(sender, request, user, **kwargs):
    """allauth's sign-in (portal and admin; Django's own signal also fires for test logins and is
    not listened to). The app's social web flow signs in here only to hand over to the app, whose
    sign-in is recorded when it exchanges the handoff code (accounts.api.views)."""
    if APP_SOCIAL_FLOW_SESSION_KEY in getattr(request, "session", {}):
        return
    records = allauth_internals.authentication_records(request, user)
    security.record_sign_in(user=user, request=request, method=security.method_of_session(records))


@receiver(user_login_failed)
def record_failed_password(sender, credentials, request=None, **kwargs):
    # allauth's sign-in form (portal and API) authenticates through Django: one signal per refusal.
    user = security.find_user_by_login(credentials.get("username") or credentials.get("email"))
    if user is not None:
        security.record_event(user=user, kind=Kind.SIGN_IN_FAILED, request=request, method="Password")


@receiver(account_signals.login_code_rejected)
def record_rejected_code(sender, request, user, last_attempt=False, **kwargs):
    detail = "Too many wrong codes: the code no longer works." if last_attempt else "Wrong code."
    security.record_event(user=user, kind=Kind.SIGN_IN_FAILED, request=request, method="Emailed code", detail=detail)


@receiver(account_signals.email_changed)
def record_email_change(sender, request, user, from_email_address, to_email_address, **kwargs):
    before = getattr(from_email_address, "email", "") or "none"
    security.record_event(
        user=user,
        kind=Kind.EMAIL_CHANGED,
        request=request,
        detail=f"{before} \u2192 {to_email_address.email}",
        dedupe_key=f"email_changed:{user.pk}:{to_email_address.pk}:{before}",
    )


@receiver(mfa_signals.authenticator_added)
def record_factor_added(sender, request, user, authenticator, **kwargs):
    security.record_event(
        user=user,
        kind=Kind.FACTOR_ADDED,
        request=request,
        detail=security.factor_name(authenticator),
        dedupe_key=f"factor_added:{authenticator.pk}",
    )


@receiver(mfa_signals.authenticator_removed)
def record_factor_removed(sender, request, user, authenticator, **kwargs):
    # allauth sends this after the row is gone (no id left to key on): one signal per removal.
    security.record_event(
        user=user, kind=Kind.FACTOR_REMOVED, request=request, detail=security.factor_name(authenticator)
    )


@receiver(mfa_signals.authenticator_reset)
def record_recovery_codes_regenerated(sender, request, user, authenticator, **kwargs):
    security.record_event(
        user=user,
        kind=Kind.RECOVERY_CODES_REGENERATED,
        request=request,
        dedupe_key=f"recovery_codes_regenerated:{authenticator.pk}",
    )


@receiver(mfa_signals.authenticator_used)
def record_recovery_code_used(sender, request, user, authenticator, **kwargs):
    if authenticator.type != Authenticator.Type.RECOVERY_CODES:
        return
    # allauth checks the code on a fresh copy of the row (select_for_update): this one is stale.
    authenticator = Authenticator.objects.filter(pk=authenticator.pk).first() or authenticator
    # Each use flips one bit of the used mask: the mask after this use names it.
    used = (authenticator.data or {}).get("used_mask", 0)
    security.record_event(
        user=user,
        kind=Kind.RECOVERY_CODE_USED,
        request=request,
        detail=f"{len(authenticator.wrap().get_unused_codes())} unused recovery codes left.",
        dedupe_key=f"recovery_code_used:{authenticator.pk}:{used}",
    )


@receiver(mfa_signals.authentication_failed)
def record_failed_second_factor(sender, request, user, authenticator=None, reauthentication=False, **kwargs):
    detail = "While confirming it was you." if reauthentication else ""
    method = security.METHODS.get(getattr(authenticator, "type", ""), "second factor")
    security.record_event(
        user=user, kind=Kind.SIGN_IN_FAILED, request=request, method=method[0].upper() + method[1:], detail=detail
    )
