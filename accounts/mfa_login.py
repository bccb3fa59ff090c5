"""The API's second sign-in step and passkey sign-in, checked by allauth.mfa itself.

A right first factor (password, emailed code, Google) for a user with a second factor (TOTP or a
WebAuthn key: what allauth's own AuthenticateStage asks about) gives no tokens but an mfa_token:
a LoginChallenge row of which only a hash is kept, short-lived, spent by the first right answer,
dead after API_MFA_TOKEN_MAX_ATTEMPTS wrong ones. The answer goes through allauth.mfa's forms, so
codes are checked by its code (a TOTP code once per period, a recovery code once ever) and every
try counts in its `login_failed` limit for the account, the portal's lockout.

Passkey sign-in needs no first factor: allauth's WebAuthn challenge, with user verification
required, whose state waits in a LoginChallenge row until the app sends the assertion.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.base.forms import AuthenticateForm
from allauth.mfa.models import Authenticator
from allauth.mfa.webauthn.forms import AuthenticateWebAuthnForm, LoginWebAuthnForm
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import allauth_internals
from accounts.exceptions import (
    AccountDisabled,
    IncorrectMfaCode,
    InvalidMfaToken,
    MfaTokenExpired,
    NoSecurityKey,
    PasskeyLoginDisabled,
    PasskeyNotAccepted,
    TooManyLoginAttempts,
)
from accounts.models import LoginChallenge, User
from accounts.tokens import SECOND_FACTORS

# allauth's authenticator types, as the `methods` of an mfa_required answer, in this order.
METHODS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN, Authenticator.Type.RECOVERY_CODES]
# Each authenticator type as the tokens' amr value (accounts.tokens.AMR_CLAIM).
AMR_OF_TYPE = {
    Authenticator.Type.TOTP: "otp",
    Authenticator.Type.RECOVERY_CODES: "recovery_code",
    Authenticator.Type.WEBAUTHN: "webauthn",
}
# allauth's record of a browser sign-in step (allauth_internals.authentication_records) as amr.
AMR_OF_BROWSER_METHOD = {"password": "pwd", "code": "email", "socialaccount": "fed"}


@dataclass(frozen=True)
class SecondFactorRequired:
    """What the app needs for the second step: the token and the methods the account can use."""

    mfa_token: str
    methods: list[str]
    expires_in: int


def _token_hash(token: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"login-challenge:{token}".encode(), hashlib.sha256).hexdigest()


def _new_challenge(**fields) -> str:
    token = secrets.token_urlsafe(32)
    LoginChallenge.objects.create(
        token_hash=_token_hash(token),
        expires_at=timezone.now() + timedelta(seconds=settings.API_MFA_TOKEN_TIMEOUT),
        **fields,
    )
    return token


def second_factor_methods(user: User) -> list[str]:
    """The methods that can finish a sign-in of ``user``; none when the account has no second factor
    (recovery codes alone are none: allauth deletes them with the last factor)."""
    authenticators = {a.type: a for a in Authenticator.objects.filter(user=user)}
    if not {Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN} & authenticators.keys():
        return []
    codes = authenticators.get(Authenticator.Type.RECOVERY_CODES)
    if codes is not None and not codes.wrap().get_unused_codes():
        del authenticators[Authenticator.Type.RECOVERY_CODES]
    return [str(method) for method in METHODS if method in authenticators]


def require_second_factor(*, user: User, amr: list[str]) -> SecondFactorRequired | None:
    """None when the sign-in made with ``amr`` may have its tokens; else the step still to take."""
    if SECOND_FACTORS.intersection(amr):
        return None
    methods = second_factor_methods(user)
    if not methods:
        return None
    token = _new_challenge(kind=LoginChallenge.Kind.SECOND_FACTOR, user=user, amr=list(amr))
    return SecondFactorRequired(mfa_token=token, methods=methods, expires_in=settings.API_MFA_TOKEN_TIMEOUT)


def _locked_challenge(token: str, kind: str) -> LoginChallenge:
    """The live challenge behind ``token``, locked until the transaction ends (inside one)."""
    challenge = (
        LoginChallenge.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(token_hash=_token_hash(token), kind=kind, used_at__isnull=True)
        .first()
    )
    if challenge is None:
        raise InvalidMfaToken()
    if challenge.expires_at <= timezone.now():
        raise MfaTokenExpired()
    return challenge


def second_factor_webauthn_options(*, request, mfa_token: str) -> dict:
    """allauth's WebAuthn request options for the keys of the user signing in; the next answer to
    POST /api/login/mfa with a `credential` is checked against them (once)."""
    with transaction.atomic():
        challenge = _locked_challenge(mfa_token, LoginChallenge.Kind.SECOND_FACTOR)
        if not Authenticator.objects.filter(user=challenge.user, type=Authenticator.Type.WEBAUTHN).exists():
            raise NoSecurityKey()
        options, challenge.webauthn_state = allauth_internals.webauthn_request_options(request, user=challenge.user)
        challenge.save(update_fields=["webauthn_state"])
    return options


def complete_second_factor(*, request, mfa_token: str, code: str = "", credential: dict | None = None):
    """Finish a sign-in with a code (TOTP or recovery) or a security key's assertion.

    Returns the user and the login's amr, e.g. ["pwd", "otp"]. The challenge row stays locked while
    allauth checks the answer, so of two answers with one token only one can win; a wrong answer is
    counted on the token (it dies at API_MFA_TOKEN_MAX_ATTEMPTS) and in allauth's lockout.
    """
    with transaction.atomic():
        challenge = _locked_challenge(mfa_token, LoginChallenge.Kind.SECOND_FACTOR)
        user = challenge.user
        if not user.is_active:
            raise AccountDisabled()
        now = timezone.now()
        try:
            authenticator = _check_answer(request, challenge, code=code, credential=credential)
        except IncorrectMfaCode as wrong:
            refusal = wrong  # raised once the count is saved: raising here would roll it back
            challenge.attempts += 1
            if challenge.attempts >= settings.API_MFA_TOKEN_MAX_ATTEMPTS:
                challenge.used_at = now
                refusal = IncorrectMfaCode(f"{wrong} Too many wrong answers for this sign-in: sign in again.")
            challenge.save(update_fields=["attempts", "used_at", "webauthn_state"])
        else:
            challenge.used_at = now
            challenge.save(update_fields=["used_at", "webauthn_state"])
            return user, [*challenge.amr, AMR_OF_TYPE[authenticator.type]]
    raise refusal


def _check_answer(request, challenge: LoginChallenge, *, code: str, credential: dict | None) -> Authenticator:
    """allauth.mfa's own check of the answer; its success bookkeeping (last used, its signal) too."""
    user = challenge.user
    if credential is not None:
        allauth_internals.restore_webauthn_state(request, challenge.webauthn_state)
        challenge.webauthn_state = None  # one WebAuthn challenge, one answer
        form = AuthenticateWebAuthnForm(data={"credential": credential}, user=user)
        field = "credential"
    else:
        form = AuthenticateForm(data={"code": code}, user=user)
        field = "code"
    with allauth_internals.allauth_request(request):
        valid = form.is_valid()
        if valid:
            form.save()
    if not valid:
        refusals = [error.code for error in form.errors.as_data().get(field, [])]
        if "too_many_login_attempts" in refusals:
            raise TooManyLoginAttempts(retry_after=allauth_internals.mfa_failed_retry_after(request, user=user))
        if credential is not None:
            raise IncorrectMfaCode("The security key's answer was not accepted.")
        raise IncorrectMfaCode()
    return form.cleaned_data["credential"] if credential is not None else form.authenticator


def passkey_options(*, request) -> tuple[str, dict]:
    """A passkey sign-in's start: allauth's WebAuthn request options and the token that names them."""
    if not mfa_settings.PASSKEY_LOGIN_ENABLED:
        raise PasskeyLoginDisabled()
    options, state = allauth_internals.webauthn_request_options(request, user=None)
    token = _new_challenge(kind=LoginChallenge.Kind.PASSKEY, webauthn_state=state)
    return token, options


def sign_in_with_passkey(*, request, passkey_token: str, credential: dict) -> User:
    """The passkey's assertion, checked by allauth against the challenge ``passkey_token`` names;
    the challenge is spent by the first answer, right or wrong."""
    if not mfa_settings.PASSKEY_LOGIN_ENABLED:
        raise PasskeyLoginDisabled()
    if not allauth_internals.consume_passkey_login_rate_limit(request):
        raise TooManyLoginAttempts("Too many passkey sign-ins from this address. Try again later.", retry_after=60)
    with transaction.atomic():
        challenge = _locked_challenge(passkey_token, LoginChallenge.Kind.PASSKEY)
        challenge.used_at = timezone.now()
        challenge.save(update_fields=["used_at"])
    allauth_internals.restore_webauthn_state(request, challenge.webauthn_state)
    form = LoginWebAuthnForm(data={"credential": credential})
    with allauth_internals.allauth_request(request):
        if not form.is_valid():
            raise PasskeyNotAccepted()
        user = form.cleaned_data["credential"].user
        if not user.is_active:
            raise AccountDisabled()
        form.save()
    return user


def amr_of_browser_sign_in(request, user: User) -> list[str]:
    """How the browser session that is handing over to the app signed ``user`` in, as amr values."""
    amr = []
    for record in allauth_internals.authentication_records(request, user):
        if record.get("method") == "mfa":
            value = AMR_OF_TYPE.get(record.get("type"))
        else:
            value = AMR_OF_BROWSER_METHOD.get(record.get("method"))
        if value and value not in amr:
            amr.append(value)
    return amr
