from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api import views

urlpatterns = [
    path("register", views.RegisterView.as_view(), name="api-register"),
    path("login", views.LoginView.as_view(), name="api-login"),
    path("refresh-token", views.RefreshView.as_view(), name="api-refresh-token"),
    path("logout", views.LogoutView.as_view(), name="api-logout"),
    path("me", views.MeView.as_view(), name="api-me"),
    path("me/security-events", views.MySecurityEventsView.as_view(), name="api-me-security-events"),
    path("verify", views.VerifyView.as_view(), name="api-verify"),
    path("request/verify", views.RequestVerifyView.as_view(), name="api-request-verify"),
    path("forget-password", views.ForgetPasswordView.as_view(), name="api-forget-password"),
    path("new-password", views.NewPasswordView.as_view(), name="api-new-password"),
    path("change-password", views.ChangePasswordView.as_view(), name="api-change-password"),
    path("request/login-code", views.RequestLoginCodeView.as_view(), name="api-request-login-code"),
    path("login/code", views.LoginCodeView.as_view(), name="api-login-code"),
    path("login/mfa", views.LoginMfaView.as_view(), name="api-login-mfa"),
    path("login/mfa/webauthn", views.LoginMfaWebAuthnView.as_view(), name="api-login-mfa-webauthn"),
    path("login/passkey/options", views.PasskeyOptionsView.as_view(), name="api-login-passkey-options"),
    path("login/passkey", views.PasskeyLoginView.as_view(), name="api-login-passkey"),
    path("google/login", views.GoogleLoginView.as_view(), name="api-google-login"),
    path("github/login", views.GitHubLoginView.as_view(), name="api-github-login"),
    path("social/complete", views.SocialCompleteView.as_view(), name="api-social-complete"),
    path("social/google/token", views.GoogleTokenView.as_view(), name="api-social-google-token"),
    path("social/exchange", views.SocialExchangeView.as_view(), name="api-social-exchange"),
    path("deactivate", views.DeactivateView.as_view(), name="api-deactivate"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
