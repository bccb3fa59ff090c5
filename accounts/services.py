"""Account workflows shared by the portal, the admin and the API."""

import hashlib
import hmac
import secrets
from datetime import timedelta
from types import SimpleNamespace

import jwt
from allauth.account import app_settings as allauth_settings
from allauth.account import signals
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.forms import LoginForm, ResetPasswordForm, SignupForm, default_token_generator
from allauth.account.models import EmailAddress, get_emailconfirmation_model
from allauth.account.utils import url_str_to_user_pk
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.usersessions.adapter import get_adapter as get_sessions_adapter
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sites.requests import RequestSite
from django.core import signing
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.utils import timezone

from accounts import allauth_internals, deactivation, security, tokens
from accounts.adapters import SignupRaceLost, spend_one_hash
from accounts.exceptions import (
    AccountDisabled,
    CodeExpired,
    EmailBelongsToAnotherAccount,
    InvalidCode,
    InvalidCredentials,
    InvalidIdToken,
    InvalidKey,
    ProviderNotConfigured,
    TooManyAddressChanges,
    TooManyLoginAttempts,
    WrongPassword,
)
from accounts.models import LoginCode, SocialHandoff, TokenFamily, User, normalize_email
from accounts.user_agents import describe_user_agent
from mail import outbox


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


def current_session_id(*, user: User, session_key: str | None) -> int | None:
    return UserSession.objects.filter(user=user, session_key=session_key).values_list("pk", flat=True).first()


def end_session(*, user: User, session_id: int, request=None) -> bool:
    """Sign out one of the user's sessions (the session list's button). False if it is not theirs
    or already ended. Another device signed out goes into the security history; signing out this
    one is an ordinary sign-out."""
    sessions = list(UserSession.objects.filter(user=user, pk=session_id))
    get_sessions_adapter().end_sessions(sessions)
    current = getattr(getattr(request, "session", None), "session_key", None)
    for session in sessions:
        if session.session_key != current:
            detail = f"{describe_user_agent(session.user_agent)}, last active from {session.ip}."
            security.record_event(user=user, kind=security.Kind.SESSIONS_ENDED, request=request, detail=detail)
    return bool(sessions)


def end_other_sessions(*, request, user: User) -> int:
    """ "Sign out everywhere else" on the session list: every other browser session ends."""
    ended = end_sessions(user=user, keep_session_key=request.session.session_key)
    if ended:
        detail = f"{ended} other session{'s' if ended != 1 else ''} signed out."
        security.record_event(user=user, kind=security.Kind.SESSIONS_ENDED, request=request, detail=detail)
    return ended


def deactivate_account(*, user: User, request=None) -> None:
    """Switch the account off: no sign-in by any path, every session ended, the owner told.

    Django refuses inactive users on every request (ModelBackend.get_user), so a session that
    escaped end_sessions() is dead anyway; ending them also removes them from the session list.

    What the account owns elsewhere (a paid subscription: billing's hook) is settled first,
    outside any transaction; if that is refused (DeactivationRefused) nothing has changed.
    """
    notes = deactivation.describe(user)
    deactivation.settle(user)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        end_sessions(user=user)
        tokens.revoke_all(user, reason=TokenFamily.RevokedReason.DEACTIVATED)
        by = getattr(request, "user", None)
        detail = f"By staff ({by})." if by is not None and by.is_authenticated and by.pk != user.pk else ""
        security.record_event(user=user, kind=security.Kind.DEACTIVATED, request=request, detail=detail)
        if user.email:
            context = {
                "user": user,
                "current_site": current_site(request),
                "notes": notes,
                "support_email": settings.SUPPORT_EMAIL,
            }
            message = get_account_adapter(request).render_mail("account/email/account_deactivated", user.email, context)
            outbox.store(message)


# --- Flows the API drives; the portal reaches the same allauth machinery through its views. ---


def register(*, request, email: str, username: str, password: str) -> User:
    """Sign up exactly as the portal does (allauth's form, adapter and verification mail).

    A refusal costs what a sign-up costs, one password hash and, for a taken address, one mail
    (allauth's "account already exists", to the owner), so timing does not tell which it was.
    """

    email = normalize_email(email)
    form = SignupForm(data={"email": email, "username": username, "password1": password, "password2": password})
    errors = {}
    if not form.is_valid():
        for field, messages in form.errors.items():
            name = {"password1": "password", "password2": "password", "__all__": "__all__"}.get(field, field)
            errors.setdefault(name, messages[0])
    if form.account_already_exists:  # allauth's finding (it also knows other users' secondary addresses)
        errors["email"] = "This email address is already taken."
    errors.update(_taken(email=email, username=username))  # checked after the form's: one wording
    if errors:
        spend_one_hash()
        _refuse_signup(request, email=email, errors=errors)
    try:
        with transaction.atomic():
            user = form.save(request)
            address = EmailAddress.objects.get_for_user(user, user.email)
            allauth_internals.send_verification_to_address(request, address, signup=True)
    except SignupRaceLost:
        # A sign-up beside this one took the address or username after the check above (the
        # password was hashed already): the same answer as if it had been taken before.
        _refuse_signup(request, email=email, errors=_taken(email=email, username=username))
    return user


def _taken(*, email: str, username: str) -> dict:
    errors = {}
    if User.objects.filter(email=email).exists():
        errors["email"] = "This email address is already taken."
    if User.objects.filter(username__iexact=username).exists():
        errors["username"] = "This username is already taken."
    return errors


def _refuse_signup(request, *, email: str, errors: dict):
    if "email" in errors and allauth_internals.consume_rate_limit(request, action="confirm_email", key=email):
        get_account_adapter(request).send_account_already_exists_mail(email)
    raise ValidationError(errors)


def confirm_email(*, request, key: str) -> bool:
    """Verify the address behind an emailed key. True if it was verified now, False if already."""

    confirmation = get_emailconfirmation_model().from_key(key)
    if confirmation is None:
        if _address_behind_key(key, verified=True):
            return False
        raise InvalidKey("The verification link is invalid or has expired.")
    if not allauth_internals.verify_address(request, confirmation.email_address):
        raise InvalidKey("This email address can no longer be verified for this account.")
    return True


def _address_behind_key(key: str, *, verified: bool) -> bool:
    """allauth's HMAC keys only resolve to unverified addresses; this tells "already verified"."""

    max_age = 60 * 60 * 24 * allauth_settings.EMAIL_CONFIRMATION_EXPIRE_DAYS
    try:
        pk = signing.loads(key, max_age=max_age, salt=allauth_settings.SALT)
    except signing.BadSignature:
        return False
    return EmailAddress.objects.filter(pk=pk, verified=verified).exists()


def is_verified(user: User) -> bool:
    known = getattr(user, tokens.VERIFIED_ATTR, None)  # read with the API caller's token family
    if known is not None:
        return known

    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


def resend_verification(*, request, user: User) -> bool:
    """False when allauth's rate limit says the last mail was too recent."""

    return allauth_internals.send_verification_to_user(request, user)


def pending_verification(*, request) -> SimpleNamespace | None:
    """The sign-up or sign-in of this browser waiting for its address to be confirmed: the address,
    whether it came from a sign-up, and the seconds until another mail may go (allauth's
    `confirm_email` limit). None when nothing is pending (e.g. the link was opened elsewhere)."""

    login = allauth_internals.pending_verification(request)
    if login is None:
        return None
    email = login.email or (login.user.email if login.user else "")
    if not email:
        return None
    return SimpleNamespace(
        login=login,
        email=email,
        signup=login.signup,
        retry_after=int(allauth_internals.verification_mail_retry_after(request, email=email) + 0.999),
    )


def resend_pending_verification(*, request, pending: SimpleNamespace) -> bool:
    """Mail the pending address its link again; False inside the cooldown (nothing is sent).

    A sign-up whose address was taken made no account (enumeration prevention): the owner gets
    allauth's "account already exists" mail again, and the page looks the same either way."""

    if pending.retry_after > 0:
        return False
    user = pending.login.user
    address = _unverified_address(user, pending.email) if user else None
    if address is None:
        address = EmailAddress(user=None, email=pending.email)
    return allauth_internals.send_verification_to_address(request, address, signup=pending.signup)


# Each change mails a new address: a few per pending sign-up, so the form is no mail cannon.
ADDRESS_CHANGES_KEY = "gatehouse_verification_address_changes"
MAX_ADDRESS_CHANGES = 3


def change_pending_address(*, request, pending: SimpleNamespace, email: str) -> None:
    """ "Wrong address?": the unconfirmed address of the pending sign-up becomes ``email``, and the
    link goes there. A taken address changes nothing but gets its owner allauth's "account already
    exists" mail, and the page answers the same, so it tells nobody whose address it is."""

    changes = request.session.get(ADDRESS_CHANGES_KEY, 0)
    if changes >= MAX_ADDRESS_CHANGES:
        raise TooManyAddressChanges()
    request.session[ADDRESS_CHANGES_KEY] = changes + 1
    email = normalize_email(email)
    user = pending.login.user
    address = _unverified_address(user, pending.email) if user else None
    taken = User.objects.filter(email=email).exists() or EmailAddress.objects.filter(email__iexact=email).exists()
    if address is not None and not taken:
        try:
            # A new row, not the old one renamed: allauth's link is keyed by the row, and the link
            # already mailed to the mistyped address must not confirm the new one.
            with transaction.atomic():
                address.delete()
                User.objects.filter(pk=user.pk).update(email=email)
                address = EmailAddress.objects.create(user=user, email=email, primary=True, verified=False)
        except IntegrityError:  # taken meanwhile by a sign-up running beside this one
            address = None
    else:
        address = None
    pending.login.email = email
    allauth_internals.restash_login(request, pending.login)
    if address is None:
        address = EmailAddress(user=None, email=email)
    allauth_internals.send_verification_to_address(request, address, signup=True)


def _unverified_address(user: User, email: str) -> EmailAddress | None:
    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=False).first()


def request_password_reset(*, request, email: str) -> None:
    """The portal's reset: a link to a known address, a neutral mail to an unknown one."""

    form = ResetPasswordForm(data={"email": email})
    if form.is_valid():
        form.save(request)


def _user_for_reset_token(token: str) -> User:
    uidb36, _, key = token.partition("-")
    try:
        user = User.objects.get(pk=url_str_to_user_pk(uidb36), is_active=True)
    except (User.DoesNotExist, ValueError, OverflowError):
        raise InvalidKey("The password reset token is invalid or has expired.") from None
    if not key or not default_token_generator.check_token(user, key):
        raise InvalidKey("The password reset token is invalid or has expired.")
    return user


def reset_password(*, request, token: str, password: str) -> User:
    user = _user_for_reset_token(token)
    validate_password(password, user)
    with transaction.atomic():
        allauth_internals.set_reset_password(user, password)
        signals.password_reset.send(sender=User, request=request, user=user)
        get_account_adapter(request).send_notification_mail("account/email/password_reset", user)
    return user


def change_password(*, request, user: User, old_password: str, new_password: str, keep_token_family=None) -> None:
    """Every other browser session and API login ends (accounts.receivers); `keep_token_family` is the
    API login that made the change, which stays signed in."""
    if not user.check_password(old_password):
        raise WrongPassword("Old password isn't correct.")
    validate_password(new_password, user)
    with transaction.atomic():
        allauth_internals.set_changed_password(user, new_password)
        signals.password_changed.send(sender=User, request=request, user=user, keep_token_family=keep_token_family)
        get_account_adapter(request).send_notification_mail("account/email/password_changed", user)


def _code_hash(purpose: str, value: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def request_login_code(*, request, email: str) -> bool:
    """Mail a code as the portal does (same template, timeout, attempts); neutral for unknown addresses.

    Returns False when allauth's per-address limit for code requests is used up.
    """

    email = normalize_email(email)
    if not allauth_internals.consume_rate_limit(request, action="request_login_code", key=email):
        return False
    user = User.objects.filter(email=email, is_active=True).first()
    if user is None:
        allauth_internals.send_unknown_account_mail(request, email)
        return True
    adapter = get_account_adapter(request)
    code = adapter.generate_login_code()
    with transaction.atomic():
        LoginCode.objects.filter(user=user, used_at__isnull=True).update(used_at=timezone.now())
        LoginCode.objects.create(
            user=user,
            code_hash=_code_hash(f"login:{user.pk}", code),
            expires_at=timezone.now() + timedelta(seconds=allauth_settings.LOGIN_BY_CODE_TIMEOUT),
        )
        adapter.send_mail("account/email/login_code", user.email, {"request": request, "code": code})
    return True


def login_with_code(*, email: str, code: str, request=None) -> User:
    """Check an emailed code: single use, expiring, dead after too many wrong tries.

    Every try is settled by one conditional UPDATE, never by reading a count and writing it back:
    concurrent tries cannot all read the same count (SQLite has no select_for_update), only
    LOGIN_BY_CODE_MAX_ATTEMPTS wrong ones are ever counted, and the right code is refused once
    they have been.
    """
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None:
        raise InvalidCode("Invalid code or email.")
    login_code = LoginCode.objects.filter(user=user, used_at__isnull=True).order_by("-created_at").first()
    if login_code is None:
        raise InvalidCode("Invalid code or email.")
    now = timezone.now()
    live = LoginCode.objects.filter(pk=login_code.pk, used_at__isnull=True)
    if login_code.expires_at <= now:
        live.update(used_at=now)
        raise CodeExpired("Code has expired.")
    max_attempts = allauth_settings.LOGIN_BY_CODE_MAX_ATTEMPTS
    live = live.filter(attempts__lt=max_attempts)
    if not hmac.compare_digest(login_code.code_hash, _code_hash(f"login:{user.pk}", code.strip())):
        # Counted (and the code killed by the try that reaches the limit) in the row itself.
        last_try = When(attempts__gte=max_attempts - 1, then=Value(now))
        live.update(attempts=F("attempts") + 1, used_at=Case(last_try, default=None, output_field=DateTimeField()))
        security.record_event(user=user, kind=security.Kind.SIGN_IN_FAILED, request=request, method="App, emailed code")
        raise InvalidCode("Invalid code or email.")
    # Of concurrent right answers, one finds the code still live; so does none after the limit.
    if not live.update(used_at=now):
        raise InvalidCode("Invalid code or email.")
    if not user.is_active:
        raise AccountDisabled("User is disabled")
    return user


def create_social_handoff(*, user: User, amr: list[str] | None = None) -> str:
    """A one-time code the app exchanges for tokens after the provider's web flow; `amr` is how
    the browser signed in (the provider, and the second factor if allauth asked for one)."""
    code = secrets.token_urlsafe(32)
    SocialHandoff.objects.create(
        user=user,
        amr=amr or ["fed"],
        code_hash=_code_hash("social-handoff", code),
        expires_at=timezone.now() + timedelta(seconds=settings.SOCIAL_HANDOFF_TIMEOUT),
    )
    return code


def exchange_social_handoff(*, code: str) -> SocialHandoff:
    """The hand-off behind ``code`` (its user and amr), spent now."""
    with transaction.atomic():
        handoff = (
            SocialHandoff.objects.select_for_update()
            .select_related("user")
            .filter(code_hash=_code_hash("social-handoff", code), used_at__isnull=True, expires_at__gt=timezone.now())
            .first()
        )
        if handoff is None:
            raise InvalidKey("The sign-in code is unknown, used or expired.")
        handoff.used_at = timezone.now()
        handoff.save(update_fields=["used_at"])
    if not handoff.user.is_active:
        raise AccountDisabled("User is disabled")
    return handoff


def login_with_google_id_token(*, request, id_token: str) -> User:
    """Verify a Google ID token (Google's keys, our client id) and find or provision its user."""
    adapter = get_social_adapter(request)
    # allauth trusts the token's own header for kid and alg: a missing kid or another algorithm
    # would crash inside PyJWT. Google signs with RS256 and always names the key.
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        header = {}
    if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
        raise InvalidIdToken()
    provider = adapter.get_provider(request, "google")
    try:
        sociallogin = provider.verify_token(request, {"id_token": id_token})
    except ValidationError:
        raise InvalidIdToken() from None
    sociallogin.lookup()
    if sociallogin.is_existing:
        user = sociallogin.user
    else:
        email = sociallogin.user.email
        if email and User.objects.filter(email=normalize_email(email)).exists():
            raise EmailBelongsToAnotherAccount(
                "An account with this email address already exists. Sign in to it and connect Google from your account."
            )
        with transaction.atomic():
            user = adapter.save_user(request, sociallogin)
            if not is_verified(user):
                # Google vouched for the account, not the address: ask its owner, as the web flow does.
                resend_verification(request=request, user=user)
    if not user.is_active:
        raise AccountDisabled("User is disabled")
    return user


def end_other_logins(*, user: User, keep_session_key: str | None = None, keep_token_family=None) -> None:
    """After a password change: every browser session and API login ends but the one that made it."""
    end_sessions(user=user, keep_session_key=keep_session_key)
    tokens.revoke_all(user, reason=TokenFamily.RevokedReason.PASSWORD, keep_family=keep_token_family)


def authenticate_with_password(*, request, login: str, password: str) -> User:
    """The API's password sign-in, by email address or username, through the portal's own form.

    allauth's LoginForm counts each failure in the portal's per-account counter (ACCOUNT_RATE_LIMITS
    "login_failed") and refuses a locked account whatever the password. allauth hands an inactive
    user back only to someone who gave its password: "disabled" is told only to them; everyone else
    hears "invalid".
    """
    form = LoginForm(data={"login": login, "password": password}, request=request)
    if form.is_valid():
        if not form.user.is_active:
            raise AccountDisabled()
        return form.user
    for refusal in form.errors.as_data().get(NON_FIELD_ERRORS, []):
        if refusal.code == "too_many_login_attempts":
            key = allauth_internals.login_failed_counter_key(request, form.user_credentials())
            wait = allauth_internals.login_failed_retry_after(request, key=key)
            raise TooManyLoginAttempts(refusal.messages[0], retry_after=wait)
    raise InvalidCredentials()


def deactivate_with_password(*, request, user: User, password: str | None) -> None:
    """Deactivation confirmed with the account's password (a social-only account has none to give)."""
    if user.has_usable_password() and not user.check_password(password or ""):
        raise WrongPassword("Password isn't correct.")
    deactivate_account(user=user, request=request)


def social_provider(*, request, provider_id: str):
    """allauth's provider for a social sign-in, or ProviderNotConfigured when this server has no app for it."""
    try:
        return get_social_adapter(request).get_provider(request, provider_id)
    except Exception:  # no SocialApp, several, or a broken one: all mean "not set up here"
        raise ProviderNotConfigured(f"{provider_id.title()} sign-in is not configured.") from None
