"""The parts of allauth this project uses that allauth does not promise to keep.

allauth's ``internal`` package, its rate-limit core and its request context carry no stability
promise between releases. Everything of theirs we call goes through this module, so an upgrade
touches one file, and tests/accounts/test_allauth_internals.py fails loudly, naming the function,
when the pinned allauth moves or reshapes one of them.
"""

import time

from allauth.account.adapter import get_adapter
from allauth.account.internal import stagekit
from allauth.account.internal.flows import email_verification, password_change, password_reset, signup
from allauth.account.internal.flows import login as login_flow
from allauth.account.stages import EmailVerificationStage
from allauth.core import context, ratelimit
from allauth.core.internal import ratelimit as core
from allauth.mfa.webauthn.internal import auth as webauthn
from django.core.cache import cache
from django.http import HttpRequest


def send_verification_to_address(request: HttpRequest, address, *, signup: bool = False) -> bool:
    return email_verification.send_verification_email_to_address(request, address, signup=signup)


def send_verification_to_user(request: HttpRequest, user) -> bool:
    """False when allauth's rate limit says the last mail was too recent."""
    return email_verification.send_verification_email_for_user(request, user)


def verify_address(request: HttpRequest, address) -> bool:
    return email_verification.verify_email(request, address)


def set_changed_password(user, password: str) -> None:
    password_change.change_password(user, password)


def set_reset_password(user, password: str) -> None:
    password_reset.reset_password(user, password)


def send_unknown_account_mail(request: HttpRequest, email: str) -> None:
    signup.send_unknown_account_mail(request, email)


def consume_rate_limit(request: HttpRequest, *, action: str, key: str) -> bool:
    """One hit on allauth's limit for ``action`` (its ACCOUNT_RATE_LIMITS); False when used up."""
    return ratelimit.consume(request, action=action, key=key)


def current_request() -> HttpRequest | None:
    """The request allauth is handling (it sets it for the length of its views and flows)."""
    return context.request


def prevent_enumeration(request: HttpRequest, email: str):
    """allauth's answer to a sign-up with a taken address: "verification sent", and a mail to the owner."""
    return signup.prevent_enumeration(request, email=email)


# --- Failed password logins: allauth's per-account counter (ACCOUNT_RATE_LIMITS["login_failed"]) ---


def login_failed_counter_key(request: HttpRequest, credentials: dict) -> str:
    """The key allauth's `login_failed` limit counts a sign-in's failures under (its adapter's
    `_get_login_attempts_cache_key`: the site and the login as typed, lower-cased)."""
    return get_adapter(request)._get_login_attempts_cache_key(request, **credentials)


def login_failed_retry_after(request: HttpRequest, *, key: str) -> float:
    """Seconds until allauth's `login_failed` limit for ``key`` (and this client's IP) allows a try."""
    return _retry_after(request, action="login_failed", key=key)


def verification_mail_retry_after(request: HttpRequest, *, email: str) -> float:
    """Seconds until allauth's `confirm_email` limit lets another confirmation mail go to ``email``
    (allauth keys it by the address, lower-cased; a send inside the cooldown is silently skipped)."""
    return _retry_after(request, action="confirm_email", key=email.lower())


def _retry_after(request: HttpRequest, *, action: str, key: str) -> float:
    now, wait = time.time(), 0.0
    for rate in core.get_rates(app="allauth.account", action=action):
        cache_key = core.get_cache_key(request, app="allauth.account", action=action, rate=rate, key=key)
        allowed, history = core.apply_rate(cache.get(cache_key, []), now, rate, dry_run=True)
        if not allowed and history:
            wait = max(wait, history[-1] + rate.duration - now)  # when the oldest counted failure ages out
    return wait


# --- The sign-up or sign-in waiting for its address to be confirmed (allauth's stashed login) ---


def pending_verification(request: HttpRequest):
    """allauth's stashed ``Login`` (user or None, email, signup) while this session stands at the
    "confirm your address" step, else None. ``user`` is None for a sign-up with a taken address
    (enumeration prevention: no account was made, the owner got a mail)."""
    login = stagekit.unstash_login(request, peek=True)
    if login is None or request.user.is_authenticated:
        return None
    stage = stagekit.get_pending_stage(request)
    if stage is None or stage.key != EmailVerificationStage.key:
        return None
    return login


def restash_login(request: HttpRequest, login) -> None:
    stagekit.stash_login(request, login)


# --- allauth.mfa for the API (accounts.mfa): its WebAuthn ceremony, its failure counter ---


def allauth_request(request: HttpRequest):
    """A context in which allauth's forms and flows see ``request`` as the one they handle (its
    middleware sets it for every request; this makes it so outside one too)."""
    return context.request_context(request)


def webauthn_request_options(request: HttpRequest, *, user=None) -> tuple[dict, dict]:
    """allauth's WebAuthn request options for ``user``'s keys (None: any passkey, with user
    verification required), and the state to check the answer against. allauth keeps that state in
    the session, which the token-only API has not; the caller stores it."""
    with allauth_request(request):
        options = webauthn.begin_authentication(user)
    return options, request.session.pop(webauthn.STATE_SESSION_KEY)


def restore_webauthn_state(request: HttpRequest, state: dict | None) -> None:
    """Put a stored WebAuthn state where allauth's forms look for it (this request's session)."""
    request.session.pop(webauthn.STATE_SESSION_KEY, None)
    if state:
        request.session[webauthn.STATE_SESSION_KEY] = state


def mfa_failed_retry_after(request: HttpRequest, *, user) -> float:
    """Seconds until allauth's `login_failed` limit on wrong second-factor codes lets ``user`` try
    again (allauth.mfa counts them under its own key, apart from wrong passwords)."""
    return _retry_after(request, action="login_failed", key=f"mfa-auth-user-{user.pk}")


def consume_passkey_login_rate_limit(request: HttpRequest) -> bool:
    """One hit on allauth.mfa's `webauthn_login` limit (MFA_RATE_LIMITS, per IP); False when used up."""
    return core.consume(request, app="allauth.mfa", action="webauthn_login") is not None


def authentication_records(request: HttpRequest, user=None) -> list[dict]:
    """How this browser session signed ``user`` (default: request.user) in and reauthenticated, as
    allauth recorded it: one dict per step, e.g. ``{"method": "socialaccount", ...}`` then
    ``{"method": "mfa", "type": "totp", ...}``; empty for a session it recorded nothing in."""
    return login_flow.get_authentication_records(request, request.user if user is None else user)
