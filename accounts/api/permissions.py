from rest_framework.permissions import BasePermission

from accounts.services import is_verified
from accounts.tokens import made_with_second_factor


class IsVerified(BasePermission):
    """The contract's "A" routes: an active user whose email address is verified."""

    message = "Email address is not verified."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and is_verified(request.user))


class SignedInWithSecondFactor(BasePermission):
    """Staff changes over the API: only a login that passed a second factor (its tokens' amr claim:
    an authenticator or recovery code after the first factor, or a passkey)."""

    message = (
        "Staff changes need a sign-in with a second factor: sign in again with your authenticator code, "
        "a recovery code or a passkey (set one up in your account's security settings first)."
    )

    def has_permission(self, request, view):
        return made_with_second_factor(request.auth)
