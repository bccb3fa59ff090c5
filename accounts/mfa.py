"""Second factors (allauth.mfa) and who must have one.

allauth offers TOTP, recovery codes, security keys and passkeys but has no way to *require* them.
Here: staff (``is_staff``, while MFA_REQUIRED_FOR_STAFF) and members of MFA_REQUIRED_GROUPS must
use one. Until they have enrolled, the middleware lets them reach only the pages that set one up
(and sign out); everything else redirects there with a message. The Django admin further needs a
session that passed the factor: someone who signed in before enrolling, or whose browser was
trusted, is asked for the factor (allauth's reauthentication) before the admin opens. The last
factor of such a person cannot be removed (MFAAdapter.can_delete_authenticator).

The mobile API (``/api/``) is token-only and checks its own logins (accounts.api).
"""

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.allauth_internals import authentication_records

# Factors that count as a second factor. Recovery codes come with them and go with them.
SECOND_FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)

# What a required person without a factor may still open: the setup pages, the steps allauth
# puts in front of them (reauthentication, recovery codes shown after enrolling) and signing out.
SETUP_URL_NAMES = frozenset(
    {
        "mfa_index",
        "mfa_activate_totp",
        "mfa_add_webauthn",
        "mfa_list_webauthn",
        "mfa_reauthenticate",
        "mfa_reauthenticate_webauthn",
        "mfa_view_recovery_codes",
        "mfa_download_recovery_codes",
        "mfa_generate_recovery_codes",
        "account_reauthenticate",
        "account_logout",
        # Probes and the public status page answer whoever asks.
        "livez",
        "readyz",
        "healthz",
        "status",
        "favicon",
    }
)
API_PREFIX = "/api/"

ENROL_MESSAGE = (
    "Your account must use two-factor authentication. Set up an authenticator app or a passkey below; "
    "the rest of the site opens once you have."
)
KEEP_ONE_MESSAGE = (
    "Your account must keep a second factor, so this is the only one you cannot remove. "
    "Add another authenticator app or security key first."
)


def second_factor_required(user) -> bool:
    """True for people who must use a second factor: staff (unless turned off) and MFA_REQUIRED_GROUPS."""
    if user is None or not user.is_authenticated:
        return False
    if settings.MFA_REQUIRED_FOR_STAFF and user.is_staff:
        return True
    groups = settings.MFA_REQUIRED_GROUPS
    return bool(groups) and user.groups.filter(name__in=groups).exists()


def has_second_factor(user, request=None) -> bool:
    """One query; with `request`, once per request (the middleware and the admin's permission
    checks, several per admin page, share the answer)."""
    cached = getattr(request, "_has_second_factor", None)
    if cached is not None:
        return cached
    answer = Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTOR_TYPES).exists()
    if request is not None:
        request._has_second_factor = answer
    return answer


def session_passed_second_factor(request) -> bool:
    """This session's sign-in or a later reauthentication used a second factor (TOTP, a security key,
    a passkey or a recovery code). A browser trusted to skip the factor did not, in this session."""
    return any(record.get("method") == "mfa" for record in authentication_records(request))


def admin_has_permission(request) -> bool:
    """The admin site's permission check, also refusing staff whose session did not pass a second
    factor (the middleware redirects them first; this holds if a path ever escapes it)."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if second_factor_required(user):
        return has_second_factor(user, request) and session_passed_second_factor(request)
    return True


def _is_admin_path(path: str) -> bool:
    return path.startswith(reverse("admin:index"))


class SecondFactorRequiredMiddleware:
    """Keeps people who must use a second factor on the setup pages until they have one, and asks
    staff for the factor before the admin when this session has not passed it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(API_PREFIX):
            return None
        user = getattr(request, "user", AnonymousUser())
        try:
            required = second_factor_required(user)
        except (OperationalError, InterfaceError):
            # The database is down: let the view meet it, where the outage becomes the 503 page
            # (an exception here would skip the middleware that renders it).
            return None
        if not required:
            return None
        if not has_second_factor(user, request):
            match = request.resolver_match
            if match is not None and match.url_name in SETUP_URL_NAMES:
                return None
            # The page says why, in the words of ENROL_MESSAGE (templates/mfa/index.html), whether
            # it was reached by this redirect or directly; a flashed copy would say it twice.
            return redirect("mfa_index")
        if _is_admin_path(request.path) and not session_passed_second_factor(request):
            messages.info(request, "The admin needs your second factor once per sign-in. Confirm it to continue.")
            next_url = request.get_full_path() if request.method == "GET" else reverse("admin:index")
            return redirect(f"{reverse(factor_reauthentication_url_name(user))}?{urlencode({'next': next_url})}")
        return None


def factor_reauthentication_url_name(user) -> str:
    """allauth's page that confirms this person's second factor: the code form when they have an
    authenticator app, the security key / passkey prompt when keys are all they have."""
    if Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists():
        return "mfa_reauthenticate"
    return "mfa_reauthenticate_webauthn"


class MFAAdapter(DefaultMFAAdapter):
    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "cannot_delete_authenticator": KEEP_ONE_MESSAGE,
    }

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        user = authenticator.user
        if not second_factor_required(user) or authenticator.type not in SECOND_FACTOR_TYPES:
            return True
        others = Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTOR_TYPES).exclude(
            pk=authenticator.pk
        )
        return others.exists()
