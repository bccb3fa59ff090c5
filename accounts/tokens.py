"""API tokens: simplejwt access/refresh tokens bound to a TokenFamily (one per login).

Rotation blacklists the presented refresh token (simplejwt's token_blacklist tables) and issues
the next one in the same family. Presenting a refresh token that was already rotated means it
was copied: the family is revoked, so the thief's and the owner's newest tokens die together.
The one exception is a race, not a copy: presented again within REFRESH_REUSE_GRACE_SECONDS while
its successor is unused, it gets that same successor again (re-minted from the successor's stored
claims; the database keeps only a fingerprint of each refresh token).
"""

import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch, datetime_to_epoch

from accounts import security
from accounts.exceptions import InvalidRefreshToken, RefreshTokenNotYours
from accounts.models import TokenFamily, User

FAMILY_CLAIM = "fam"
# How the login was made (RFC 8176's "amr", our values): kept on the family, so every token it mints,
# refreshed or not, says the same. "pwd" password, "email" emailed code, "fed" Google/GitHub, and the
# second factors: "otp" authenticator app, "recovery_code", "webauthn" (security key or passkey).
AMR_CLAIM = "amr"
SECOND_FACTORS = frozenset({"otp", "recovery_code", "webauthn"})
SUCCESSOR_NAMESPACE = uuid.UUID("5d0b7f0e-6c1a-4d8e-9a57-3f3c2b1e9d40")  # _successor_jti's, fixed forever
security_log = logging.getLogger("gatehouse.security")


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    refresh_expires_at: object
    user: User

    @property
    def expires_in(self) -> int:
        return int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds())


# Set on the user by active_family's caller: whether the address was verified when the request began.
VERIFIED_ATTR = "_email_verified"


def active_family(family_id) -> TokenFamily | None:
    """The live login a token belongs to, with everything an API request asks about its caller.

    One query: the family, its user, the user's profile (the user response) and `user_verified`
    (the "A" routes' check), instead of one query for each.
    """
    verified = EmailAddress.objects.filter(
        user=OuterRef("user_id"), email__iexact=OuterRef("user__email"), verified=True
    )
    return (
        TokenFamily.objects.select_related("user", "user__profile")
        .annotate(user_verified=Exists(verified))
        .filter(pk=family_id, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


def request_family(request, family_id) -> TokenFamily | None:
    """active_family(), asked once per request: the API's rate limiter and its authentication both
    want the bearer's login, and the second asks for free."""
    known = request.__dict__.setdefault("_token_families", {})
    if family_id not in known:
        known[family_id] = active_family(family_id)
    return known[family_id]


def start_login(user: User, *, amr: Iterable[str] = ()) -> TokenPair:
    """A new login, made with the methods `amr` names: a new family and its first pair of tokens.
    (Without `amr`, as scripts and benchmarks mint them, the tokens name no method.)"""
    with transaction.atomic():
        family = TokenFamily.objects.create(
            user=user, amr=list(amr), expires_at=timezone.now() + settings.JWT_ABSOLUTE_REFRESH_LIFETIME
        )
        return _issue(family)


def made_with_second_factor(validated_token) -> bool:
    """Whether the login behind an (already validated) access token passed a second factor."""
    amr = validated_token.get(AMR_CLAIM) if validated_token is not None else None
    return isinstance(amr, list) and bool(SECOND_FACTORS.intersection(amr))


def _claim_login(refresh: RefreshToken, family: TokenFamily) -> None:
    """The claims naming the login, in one order (_reissue mints the same token as _issue did). A
    family from before the amr claim existed has none and mints none."""
    refresh[api_settings.USER_ID_CLAIM] = family.user_id
    refresh[FAMILY_CLAIM] = str(family.pk)
    if family.amr:
        refresh[AMR_CLAIM] = list(family.amr)


def _issue(family: TokenFamily, *, jti: str | None = None) -> TokenPair:
    refresh = RefreshToken()
    if jti:
        refresh[api_settings.JTI_CLAIM] = jti
    _claim_login(refresh, family)
    # Rolling lifetime, but never past the login's absolute end.
    remaining = family.expires_at - refresh.current_time
    if remaining < api_settings.REFRESH_TOKEN_LIFETIME:
        refresh.set_exp(lifetime=max(remaining, timedelta(seconds=1)))
    expires_at = datetime_from_epoch(refresh["exp"])
    OutstandingToken.objects.create(
        user_id=family.user_id,
        jti=refresh[api_settings.JTI_CLAIM],
        token=_fingerprint(str(refresh)),
        created_at=refresh.current_time,
        expires_at=expires_at,
    )
    return _pair(family, refresh, expires_at)


def _pair(family: TokenFamily, refresh: RefreshToken, expires_at) -> TokenPair:
    return TokenPair(
        access=str(refresh.access_token), refresh=str(refresh), refresh_expires_at=expires_at, user=family.user
    )


def _fingerprint(raw: str) -> str:
    """What OutstandingToken keeps of a refresh token: enough to recognise it, useless to a thief."""
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def _successor_jti(jti: str) -> str:
    """The jti of the token that rotating `jti` issues. Derived, not random, so that a refresh that
    lost a race can be handed the very same successor without it being stored anywhere."""
    return uuid.uuid5(SUCCESSOR_NAMESPACE, jti).hex


def _reissue(family: TokenFamily, successor: OutstandingToken) -> TokenPair:
    """The successor `_issue` minted, minted again: the same claims in the same order, so the same
    signed token; and a new access token beside it."""
    refresh = RefreshToken()
    refresh[api_settings.JTI_CLAIM] = successor.jti
    refresh["iat"] = datetime_to_epoch(successor.created_at)
    refresh["exp"] = datetime_to_epoch(successor.expires_at)
    _claim_login(refresh, family)
    return _pair(family, refresh, successor.expires_at)


def _successor_in_grace(outstanding: OutstandingToken) -> OutstandingToken | None:
    """For a token rotated less than REFRESH_REUSE_GRACE_SECONDS ago whose successor is still the
    login's newest token: that successor. Two refreshes at once from one app are a race, not a
    theft; anything later, or after the chain moved on, is a replay (RFC 9700 section 4.14)."""
    grace = timedelta(seconds=settings.REFRESH_REUSE_GRACE_SECONDS)
    now = timezone.now()
    if outstanding.blacklistedtoken.blacklisted_at <= now - grace:
        return None
    successor = (
        OutstandingToken.objects.select_related("blacklistedtoken")
        .filter(jti=_successor_jti(outstanding.jti), expires_at__gt=now)
        .first()
    )
    if successor is None or hasattr(successor, "blacklistedtoken"):
        return None
    return successor


def _decode_refresh(raw: str) -> dict:
    try:
        payload = token_backend.decode(raw, verify=True)
    except (TokenError, TokenBackendError) as exc:
        raise InvalidRefreshToken(str(exc)) from exc
    if payload.get(api_settings.TOKEN_TYPE_CLAIM) != "refresh" or not payload.get(FAMILY_CLAIM):
        raise InvalidRefreshToken("Not a refresh token.")
    return payload


def rotate(raw: str, *, request=None) -> TokenPair:
    payload = _decode_refresh(raw)
    replayed_family = None
    with transaction.atomic():
        # Locking the family serialises concurrent refreshes of one login.
        family = (
            TokenFamily.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=payload[FAMILY_CLAIM])
            .first()
        )
        # With its blacklist entry, if any (reverse one-to-one): one query instead of two.
        outstanding = (
            OutstandingToken.objects.select_related("blacklistedtoken")
            .filter(jti=payload[api_settings.JTI_CLAIM])
            .first()
        )
        if family is None or outstanding is None or family.revoked_at or family.expires_at <= timezone.now():
            raise InvalidRefreshToken("Refresh token is revoked or expired.")
        if not family.user.is_active:
            raise InvalidRefreshToken("User is inactive.")
        if not hasattr(outstanding, "blacklistedtoken"):
            BlacklistedToken.objects.create(token=outstanding)
            return _issue(family, jti=_successor_jti(outstanding.jti))
        successor = _successor_in_grace(outstanding)
        if successor is not None:
            event = "refresh_token_reused_within_grace"
            security_log.info(event, extra={"event": event, "user_id": family.user_id, "family": str(family.pk)})
            return _reissue(family, successor)
        _revoke(TokenFamily.objects.filter(pk=family.pk), TokenFamily.RevokedReason.REPLAY)
        replayed_family = family
    security_log.warning(
        "refresh_token_replayed",
        extra={
            "event": "refresh_token_replayed",
            "user_id": replayed_family.user_id,
            "family": str(replayed_family.pk),
        },
    )
    security.record_event(
        user=replayed_family.user,
        kind=security.Kind.TOKEN_REPLAY,
        request=request,
        method="App",
        detail="An app's sign-in token was used a second time; that app login was signed out.",
        dedupe_key=f"token_replay:{replayed_family.pk}",
    )
    raise InvalidRefreshToken("Refresh token was already used; this login has been signed out everywhere.")


def family_of(raw_refresh: str) -> str | None:
    try:
        return _decode_refresh(raw_refresh)[FAMILY_CLAIM]
    except InvalidRefreshToken:
        return None


def _revoke(families, reason: str) -> int:
    return families.filter(revoked_at__isnull=True).update(revoked_at=timezone.now(), revoked_reason=reason)


def revoke_family(family_id, *, user: User, reason: str = TokenFamily.RevokedReason.LOGOUT) -> int:
    return _revoke(TokenFamily.objects.filter(pk=family_id, user=user), reason)


def log_out(*, user: User, family_id, refresh_token: str | None = None) -> None:
    """End the caller's login (the family of its access token), and the login of the refresh token
    it names, which must be one of the user's own.

    The caller's login ends even when the refresh token is refused: whoever asked to sign out is
    signed out, and nobody else is.
    """
    revoke_family(family_id, user=user)
    if refresh_token is None:
        return
    named = family_of(refresh_token)
    if named is None or not TokenFamily.objects.filter(pk=named, user=user).exists():
        raise RefreshTokenNotYours()
    if named != str(family_id):
        revoke_family(named, user=user)


def revoke_all(user: User, *, reason: str, keep_family=None) -> int:
    families = TokenFamily.objects.filter(user=user)
    if keep_family:
        families = families.exclude(pk=keep_family)
    return _revoke(families, reason)
