from django.urls import path, re_path

from accounts import views
from accounts.mfa_views import change_password, remove_webauthn, set_password

urlpatterns = [
    path("profile/", views.profile, name="accounts_profile"),
    path("profile/picture/remove/", views.remove_picture, name="accounts_remove_picture"),
    re_path(r"^pictures/(?P<digest>[0-9a-f]{40})\.webp$", views.picture, name="accounts_picture"),
    path("deactivate/", views.deactivate, name="accounts_deactivate"),
    path("security/", views.security_history, name="accounts_security"),
    # allauth's session list, ours (same URL and name, listed before allauth's urls).
    path("sessions/", views.session_list, name="usersessions_list"),
    path("sessions/<int:session_id>/sign-out/", views.end_session, name="accounts_end_session"),
    # allauth's "check your email" page, ours (same URL and name, listed before allauth's urls).
    path("confirm-email/", views.verification_sent, name="account_email_verification_sent"),
    path("confirm-email/resend/", views.resend_verification, name="accounts_resend_verification"),
    path("confirm-email/change-address/", views.change_pending_address, name="accounts_change_pending_address"),
    # allauth's password pages and security-key removal, asking for reauthentication first and
    # refusing to remove the last factor of someone who must keep one (same URLs and names).
    path("password/change/", change_password, name="account_change_password"),
    path("password/set/", set_password, name="account_set_password"),
    path("2fa/webauthn/keys/<int:pk>/remove/", remove_webauthn, name="mfa_remove_webauthn"),
]
