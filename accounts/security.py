"""The security history: the one place that records what happened to an account, and that mails
its owner about the events they must hear of at once (a sign-in from a new device).

allauth mails the other promised notices itself, through our adapter and the outbox: password
changed / set / reset, authenticator app and security key added or removed (its
ACCOUNT_EMAIL_NOTIFICATIONS, "account/email/base_notification"). Recording them here never
mails a second time.

Receivers (accounts.receivers) and services call these functions; billing and the API may too
(a public module). Recording never fails the request it describes: a fact that is already
recorded (its dedupe key) is skipped.
"""

import hashlib
import logging

from allauth.account.adapter import get_adapter as get_account_adapter
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest

from accounts.models import SecurityEvent, User, normalize_email
from accounts.user_agents import describe_user_agent

Kind = SecurityEvent.Kind
NEW_DEVICE_MAIL = "account/email/new_device_sign_in"
USER_AGENT_MAX_LENGTH = SecurityEvent._meta.get_field("user_agent").max_length

logger = logging.getLogger("gatehouse.security")

# How allauth's authentication records (and our API) name a way of signing in, in words.
METHODS = {
    "password": "Password",
    "code": "Emailed code",
    "password_reset": "Password reset link",
    "google": "Google",
    "github": "GitHub",
    "totp": "authenticator app",
    "recovery_codes": "recovery code",
    "webauthn": "security key",
    "passkey": "Passkey",
}
FACTORS = {"totp": "Authenticator app", "recovery_codes": "Recovery codes", "webauthn": "Security key"}


def django_request(request) -> HttpRequest | None:
    """The HttpRequest behind a DRF Request (or the HttpRequest itself, or None)."""
    return getattr(request, "_request", request)


def client_of(request) -> dict:
    """Where a request came from: IP address, User-Agent and the device in words."""
    request = django_request(request)
    if request is None:
        return {"ip": None, "user_agent": "", "device": ""}
    try:
        ip = get_account_adapter(request).get_client_ip(request)
    except Exception:  # a proxy count that does not match X-Forwarded-For: the event still counts
        ip = None
    user_agent = request.headers.get("user-agent", "")[:USER_AGENT_MAX_LENGTH]
    return {"ip": ip or None, "user_agent": user_agent, "device": describe_user_agent(user_agent)}


def record_event(
    *, user: User, kind: str, request=None, method: str = "", detail: str = "", dedupe_key: str | None = None
) -> SecurityEvent | None:
    """Append one event to the user's history; None when ``dedupe_key`` was recorded already."""
    event = SecurityEvent(
        user=user, kind=kind, method=method[:100], detail=detail[:300], dedupe_key=dedupe_key, **client_of(request)
    )
    if dedupe_key is None:
        event.save()
        return event
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        return None
    return event


def record_sign_in(*, user: User, request, method: str) -> SecurityEvent:
    """A sign-in, and "new device" (with a mail) when it comes from a browser or app this account
    has not signed in from before. An account's very first sign-in is no news to its owner."""
    client = client_of(request)
    known_devices = set(
        SecurityEvent.objects.filter(user=user, kind=Kind.SIGNED_IN).values_list("device", flat=True).distinct()
    )
    event = record_event(user=user, kind=Kind.SIGNED_IN, request=request, method=method)
    if known_devices and client["device"] not in known_devices:
        record_event(user=user, kind=Kind.NEW_DEVICE, request=request, method=method)
        context = {"device": client["device"], "method": method}
        get_account_adapter(django_request(request)).send_notification_mail(NEW_DEVICE_MAIL, user, context)
    return event


def method_of_session(records: list[dict]) -> str:
    """allauth's authentication records of a session, in words: "Password and authenticator app"."""
    words = []
    for record in records:
        method = record.get("method")
        if method == "socialaccount":
            words.append(METHODS.get(record.get("provider"), str(record.get("provider", "")).title()))
        elif method == "mfa":
            if record.get("reauthenticated"):
                continue
            kind = "passkey" if record.get("passwordless") else record.get("type")
            words.append(METHODS.get(kind, "second factor"))
        elif method in METHODS:
            words.append(METHODS[method])
    words = list(dict.fromkeys(words))
    if not words:
        return ""
    text = " and ".join(words)
    return text[0].upper() + text[1:]


def password_dedupe_key(kind: str, user: User) -> str:
    """One event per password change: the new hash names it (allauth's flow and ours both signal)."""
    fingerprint = hashlib.sha256(user.password.encode()).hexdigest()[:32]
    return f"{kind}:{user.pk}:{fingerprint}"


def factor_name(authenticator) -> str:
    return FACTORS.get(getattr(authenticator, "type", ""), "Second factor")


def find_user_by_login(login: str) -> User | None:
    """The account a typed login (address or username) names, for failed sign-ins."""
    login = (login or "").strip()
    if not login:
        return None
    return User.objects.filter(Q(email=normalize_email(login)) | Q(username__iexact=login)).order_by("pk").first()


def events_for(user: User):
    return SecurityEvent.objects.filter(user=user).order_by("-created_at", "-pk")
