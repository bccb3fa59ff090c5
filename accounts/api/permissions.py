from rest_framework.permissions import BasePermission

from accounts.services import is_verified


class IsVerified(BasePermission):
    """The contract's "A" routes: an active user whose email address is verified."""

    message = "Email address is not verified."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and is_verified(request.user))
