"""Bearer authentication that also honours revocation: a token is only as alive as its login."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from accounts.tokens import FAMILY_CLAIM, VERIFIED_ATTR, active_family, request_family


class FamilyJWTAuthentication(JWTAuthentication):
    def authenticate(self, request):
        self.django_request = request._request  # DRF makes one authenticator per request
        return super().authenticate(request)

    def get_user(self, validated_token):
        family_id = validated_token.get(FAMILY_CLAIM)
        if not family_id:
            raise InvalidToken("Token is not bound to a login.")
        request = getattr(self, "django_request", None)
        family = request_family(request, family_id) if request is not None else active_family(family_id)
        if family is None:
            raise AuthenticationFailed("Token has been revoked.", code="token_revoked")
        if not family.user.is_active:
            raise AuthenticationFailed("User is inactive.", code="user_inactive")
        setattr(family.user, VERIFIED_ATTR, family.user_verified)
        return family.user


class FamilyJWTScheme(SimpleJWTScheme):
    """Documents FamilyJWTAuthentication in the OpenAPI schema as simplejwt's bearer scheme."""

    target_class = FamilyJWTAuthentication
    name = "bearerAuth"
