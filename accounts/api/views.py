"""The mobile API's account endpoints (api-contract.md, "Auth"): thin views over accounts.services."""

from urllib.parse import urlencode, urlsplit

from allauth.socialaccount.providers.base import AuthProcess
from django.conf import settings
from django.contrib.auth import logout
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import mfa_login, pictures, security, services, tokens
from accounts.api.permissions import IsVerified
from accounts.api.schema import raises
from accounts.api.serializers import (
    ChangePasswordInput,
    DeactivateInput,
    EmailInput,
    ExchangeInput,
    GoogleTokenInput,
    LoginCodeInput,
    LoginInput,
    MessageSerializer,
    MfaLoginInput,
    MfaRequiredSerializer,
    MfaTokenInput,
    NewPasswordInput,
    PasskeyLoginInput,
    PasskeyOptionsSerializer,
    ProfileInput,
    RefreshInput,
    RegisterInput,
    SecurityEventSerializer,
    TokenResponseSerializer,
    UserSerializer,
    WebAuthnOptionsSerializer,
)
from accounts.exceptions import (
    AccountDisabled,
    CodeExpired,
    DeactivationRefused,
    EmailBelongsToAnotherAccount,
    IncorrectMfaCode,
    InvalidCode,
    InvalidCredentials,
    InvalidIdToken,
    InvalidKey,
    InvalidMfaToken,
    InvalidRefreshToken,
    NoSecurityKey,
    PageNotFound,
    PasskeyLoginDisabled,
    PasskeyNotAccepted,
    ProviderNotConfigured,
    RedirectNotAllowed,
    RefreshTokenNotYours,
    TooManyLoginAttempts,
    WrongPassword,
)
from accounts.models import User


def _valid(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def token_response(pair: tokens.TokenPair, *, include_user=True, status_code=200) -> Response:
    body = {"token": pair.access, "refresh_token": pair.refresh, "type": "Bearer", "expires_in": pair.expires_in}
    if include_user:
        body["user"] = UserSerializer(pair.user).data
    response = Response(body, status=status_code)
    response.set_cookie(
        settings.REFRESH_COOKIE_NAME,
        pair.refresh,
        expires=pair.refresh_expires_at,
        path=settings.REFRESH_COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def message(text: str, status_code=202) -> Response:
    return Response({"message": text}, status=status_code)


BEARER_CHALLENGE = 'Bearer realm="api"'
# The 401 of the sign-in routes: a refusal, or mfa_required with what the second step needs.
SIGN_IN_RESPONSES = {
    200: TokenResponseSerializer,
    401: OpenApiResponse(
        MfaRequiredSerializer,
        description="Refused (`detail` says why), or `mfa_required`: the account has a second factor; "
        "finish with POST /api/login/mfa and the `mfa_token`.",
    ),
}


# Each amr value in the words of the security history ("App, password and authenticator app").
AMR_WORDS = {
    "pwd": "password",
    "email": "emailed code",
    "fed": "Google or GitHub",
    "otp": "authenticator app",
    "recovery_code": "recovery code",
    "webauthn": "passkey",
}


def _signed_in(user: User, *, request, amr: list[str], method: str = "") -> Response:
    """The tokens of a finished login made with `amr`, recorded in the person's security history."""
    pair = tokens.start_login(user, amr=amr)
    words = method or " and ".join(AMR_WORDS.get(value, value) for value in amr) or "unknown"
    security.record_sign_in(user=user, request=request, method=f"App, {words}")
    return token_response(pair)


def _sign_in(user: User, *, request, amr: list[str], method: str = "") -> Response:
    """The tokens of a login made with `amr`, or, for an account with a second factor that this
    login has not passed, 401 mfa_required and the token for POST /api/login/mfa (the sign-in is
    recorded when that step finishes)."""
    pending = mfa_login.require_second_factor(user=user, amr=amr)
    if pending is None:
        return _signed_in(user, request=request, amr=amr, method=method)
    body = {
        "detail": "mfa_required",
        "mfa_token": pending.mfa_token,
        "methods": pending.methods,
        "expires_in": pending.expires_in,
    }
    return Response(body, status=status.HTTP_401_UNAUTHORIZED, headers={"WWW-Authenticate": BEARER_CHALLENGE})


class PublicView(APIView):
    """A "P" route: no authentication at all, so a stale bearer an app still sends is ignored
    (an expired access token on /api/refresh-token must not turn the refresh into a 401)."""

    authentication_classes = []

    def get_authenticate_header(self, request):
        # Failures here (bad password, refresh token, key) are still 401 with a Bearer challenge.
        return BEARER_CHALLENGE


class RegisterView(PublicView):
    @extend_schema(request=RegisterInput, responses={201: UserSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(RegisterInput, request)
        user = services.register(request=request._request, **data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicView):
    @extend_schema(request=LoginInput, responses=SIGN_IN_RESPONSES, tags=["auth"])
    @raises(InvalidCredentials, AccountDisabled, TooManyLoginAttempts)
    def post(self, request):
        data = _valid(LoginInput, request)
        user = services.authenticate_with_password(
            request=request._request, login=data["email"], password=data["password"]
        )
        return _sign_in(user, request=request, amr=["pwd"])


class LoginMfaView(PublicView):
    """The second step of a sign-in that answered mfa_required: a code, or a security key's answer."""

    @extend_schema(request=MfaLoginInput, responses={200: TokenResponseSerializer}, tags=["auth"])
    @raises(InvalidMfaToken, IncorrectMfaCode, AccountDisabled, TooManyLoginAttempts)
    def post(self, request):
        data = _valid(MfaLoginInput, request)
        user, amr = mfa_login.complete_second_factor(
            request=request._request,
            mfa_token=data["mfa_token"],
            code=data.get("code", ""),
            credential=data.get("credential"),
        )
        return _signed_in(user, request=request, amr=amr)


class LoginMfaWebAuthnView(PublicView):
    """WebAuthn options for the security keys of the account in a sign-in's second step."""

    @extend_schema(request=MfaTokenInput, responses={200: WebAuthnOptionsSerializer}, tags=["auth"])
    @raises(InvalidMfaToken, NoSecurityKey)
    def post(self, request):
        data = _valid(MfaTokenInput, request)
        options = mfa_login.second_factor_webauthn_options(request=request._request, mfa_token=data["mfa_token"])
        return Response({"request_options": options})


class PasskeyOptionsView(PublicView):
    """The start of a passkey sign-in (no password, no email): a WebAuthn challenge for any passkey."""

    @extend_schema(request=None, responses={200: PasskeyOptionsSerializer}, tags=["auth"])
    @raises(PasskeyLoginDisabled)
    def post(self, request):
        token, options = mfa_login.passkey_options(request=request._request)
        return Response(
            {"request_options": options, "passkey_token": token, "expires_in": settings.API_MFA_TOKEN_TIMEOUT}
        )


class PasskeyLoginView(PublicView):
    @extend_schema(request=PasskeyLoginInput, responses={200: TokenResponseSerializer}, tags=["auth"])
    @raises(InvalidMfaToken, PasskeyNotAccepted, AccountDisabled, TooManyLoginAttempts, PasskeyLoginDisabled)
    def post(self, request):
        data = _valid(PasskeyLoginInput, request)
        user = mfa_login.sign_in_with_passkey(
            request=request._request, passkey_token=data["passkey_token"], credential=data["credential"]
        )
        return _signed_in(user, request=request, amr=["webauthn"])


class RefreshView(PublicView):
    @extend_schema(
        request=RefreshInput,
        parameters=[OpenApiParameter("token", str, description="Deprecated: the seed clients' query parameter.")],
        responses={200: TokenResponseSerializer},
        tags=["auth"],
    )
    @raises(InvalidRefreshToken)
    def post(self, request):
        data = _valid(RefreshInput, request)
        raw = (
            data.get("refresh_token")
            or request.COOKIES.get(settings.REFRESH_COOKIE_NAME)
            or request.query_params.get("token")
        )
        if not raw:
            raise InvalidRefreshToken("No refresh token given.")
        return token_response(tokens.rotate(raw, request=request._request), include_user=False)


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=RefreshInput, responses={204: None}, tags=["auth"])
    @raises(RefreshTokenNotYours)
    def post(self, request):
        data = _valid(RefreshInput, request)
        raw = data.get("refresh_token") or request.COOKIES.get(settings.REFRESH_COOKIE_NAME)
        tokens.log_out(user=request.user, family_id=request.auth.get(tokens.FAMILY_CLAIM), refresh_token=raw or None)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        response.delete_cookie(settings.REFRESH_COOKIE_NAME, path=settings.REFRESH_COOKIE_PATH, samesite="Lax")
        return response


class MeView(APIView):
    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "GET" else [IsAuthenticated(), IsVerified()]

    @extend_schema(responses={200: UserSerializer}, tags=["auth"])
    def get(self, request):
        return Response(UserSerializer(request.user).data)

    @extend_schema(request=ProfileInput, responses={200: UserSerializer}, tags=["auth"])
    def patch(self, request):
        data = _valid(ProfileInput, request)
        profile = request.user.profile
        image_url = data.pop("image_url", None)
        with transaction.atomic():
            for field, value in data.items():
                setattr(profile, field, value)
            profile.save()
            # Sending back the URL GET returned keeps the uploaded picture; any other value
            # (or "") is the app's own choice and replaces it.
            if image_url is not None and image_url != profile.avatar_url():
                pictures.set_external_url(profile, image_url)
        return Response(UserSerializer(request.user).data)


class SecurityEventsPage(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound:
            raise PageNotFound() from None


class MySecurityEventsView(ListAPIView):
    """The caller's security history, newest first (the portal's Security page)."""

    permission_classes = [IsAuthenticated]
    serializer_class = SecurityEventSerializer
    pagination_class = SecurityEventsPage

    def get_queryset(self):
        return security.events_for(self.request.user)

    @extend_schema(tags=["auth"])
    @raises(PageNotFound)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class VerifyView(PublicView):
    @extend_schema(
        parameters=[OpenApiParameter("token", str, required=True, description="The key from the verification email.")],
        responses={202: MessageSerializer},
        tags=["auth"],
    )
    @raises(InvalidKey)
    def get(self, request):
        key = request.query_params.get("token", "")
        if not key:
            raise InvalidKey("The verification link is invalid or has expired.")
        verified_now = services.confirm_email(request=request._request, key=key)
        return message("Email is Verified" if verified_now else "Email is already Verified")


class RequestVerifyView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={202: MessageSerializer}, tags=["auth"])
    def post(self, request):
        if services.is_verified(request.user):
            return message("Email is already Verified")
        if not services.resend_verification(request=request._request, user=request.user):
            raise exceptions.Throttled(wait=180, detail="A verification email was sent recently. Try again later.")
        return message("Verification email sent.")


class ForgetPasswordView(PublicView):
    @extend_schema(request=EmailInput, responses={202: MessageSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(EmailInput, request)
        services.request_password_reset(request=request._request, email=data["email"])
        return message("If an account exists for this address, we have sent it a link to reset the password.")


class NewPasswordView(PublicView):
    validation_error_field = "password"  # the password validators' refusals

    @extend_schema(request=NewPasswordInput, responses={202: MessageSerializer}, tags=["auth"])
    @raises(InvalidKey)
    def post(self, request):
        data = _valid(NewPasswordInput, request)
        services.reset_password(request=request._request, token=data["token"], password=data["password"])
        return message("Password has been reset. Sign in with the new password.")


class ChangePasswordView(APIView):
    permission_classes = [IsAuthenticated, IsVerified]
    validation_error_field = "new_password"  # the password validators' refusals

    @extend_schema(request=ChangePasswordInput, responses={200: MessageSerializer}, tags=["auth"])
    @raises(WrongPassword)
    def post(self, request):
        data = _valid(ChangePasswordInput, request)
        services.change_password(
            request=request._request,
            user=request.user,
            old_password=data["old_password"],
            new_password=data["new_password"],
            keep_token_family=request.auth.get(tokens.FAMILY_CLAIM),  # this login stays signed in
        )
        return message("Password changed. Your other sessions have been signed out.", status_code=200)


class RequestLoginCodeView(PublicView):
    @extend_schema(request=EmailInput, responses={200: MessageSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(EmailInput, request)
        if not services.request_login_code(request=request._request, email=data["email"]):
            raise exceptions.Throttled(wait=60, detail="Too many codes requested for this address. Try again later.")
        return message("If an account exists for this address, we have sent it a sign-in code.", status_code=200)


class LoginCodeView(PublicView):
    @extend_schema(request=LoginCodeInput, responses=SIGN_IN_RESPONSES, tags=["auth"])
    @raises(InvalidCode, CodeExpired, AccountDisabled)
    def post(self, request):
        data = _valid(LoginCodeInput, request)
        user = services.login_with_code(email=data["email"], code=data["code"], request=request._request)
        return _sign_in(user, request=request, amr=["email"])


def _allowed_app_redirect(next_url: str) -> bool:
    return any(next_url.startswith(prefix) for prefix in settings.API_SOCIAL_REDIRECT_ALLOWLIST if prefix)


class SocialLoginView(PublicView):
    """Start Google's or GitHub's web flow for the app; it ends at the app's redirect URI with a code."""

    provider_id = ""
    uses_browser_session = True  # the flow's state lives in the browser's session (accounts.api.sessions)

    @extend_schema(
        parameters=[OpenApiParameter("next", str, required=True, description="The app's redirect URI (allow-listed).")],
        responses={302: None},
        tags=["auth"],
    )
    @raises(RedirectNotAllowed, ProviderNotConfigured)
    def get(self, request):
        next_url = request.query_params.get("next", "")
        if not _allowed_app_redirect(next_url):
            raise RedirectNotAllowed()
        provider = services.social_provider(request=request._request, provider_id=self.provider_id)
        request._request.session["api_social_next"] = next_url
        return provider.redirect(request._request, AuthProcess.LOGIN, next_url=reverse("api-social-complete"))


class GoogleLoginView(SocialLoginView):
    provider_id = "google"


class GitHubLoginView(SocialLoginView):
    provider_id = "github"


class AppRedirect(HttpResponseRedirect):
    """A 302 to the app's allow-listed redirect URI (Django's own allows only http, https, ftp)."""

    def __init__(self, next_url: str, **params):
        self.allowed_schemes = [urlsplit(next_url).scheme]
        separator = "&" if "?" in next_url else "?"
        super().__init__(f"{next_url}{separator}{urlencode(params)}")


class SocialCompleteView(APIView):
    """Where allauth lands after the provider: swap the web session for a one-time code for the app."""

    authentication_classes = [SessionAuthentication]  # the browser session is the credential here
    uses_browser_session = True

    @extend_schema(exclude=True)
    def get(self, request):
        django_request = request._request
        next_url = django_request.session.pop("api_social_next", "")
        if not _allowed_app_redirect(next_url):
            return Response({"detail": "No app sign-in is in progress."}, status=400)
        user = request.user
        if not user.is_authenticated:
            return AppRedirect(next_url, error="login_failed")
        code = services.create_social_handoff(user=user, amr=mfa_login.amr_of_browser_sign_in(django_request, user))
        logout(django_request)  # the app gets tokens; the browser keeps no session
        return AppRedirect(next_url, code=code)


class GoogleTokenView(PublicView):
    @extend_schema(request=GoogleTokenInput, responses=SIGN_IN_RESPONSES, tags=["auth"])
    @raises(InvalidIdToken, AccountDisabled, EmailBelongsToAnotherAccount)
    def post(self, request):
        data = _valid(GoogleTokenInput, request)
        user = services.login_with_google_id_token(request=request._request, id_token=data["id_token"])
        return _sign_in(user, request=request, amr=["fed"], method="Google")


class SocialExchangeView(PublicView):
    @extend_schema(request=ExchangeInput, responses=SIGN_IN_RESPONSES, tags=["auth"])
    @raises(InvalidKey, AccountDisabled)
    def post(self, request):
        data = _valid(ExchangeInput, request)
        handoff = services.exchange_social_handoff(code=data["code"])
        return _sign_in(handoff.user, request=request, amr=handoff.amr)


class DeactivateView(APIView):
    permission_classes = [IsAuthenticated, IsVerified]

    @extend_schema(request=DeactivateInput, responses={202: MessageSerializer}, tags=["auth"])
    @raises(WrongPassword, DeactivationRefused)
    def post(self, request):
        data = _valid(DeactivateInput, request)
        services.deactivate_with_password(request=request._request, user=request.user, password=data.get("password"))
        return message("User deactivated.")
