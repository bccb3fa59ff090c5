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
from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.stages import EmailVerificationStage
from allauth.core import context, ratelimit
from allauth.core.internal import ratelimit as core
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


def authentication_records(request: HttpRequest, user) -> list[dict]:
    """How this session's user proved who they are, in order: allauth's records
    ({"method": "password"}, {"method": "mfa", "type": "totp"}, {"method": "socialaccount", ...})."""
    return get_authentication_records(request, user)


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
