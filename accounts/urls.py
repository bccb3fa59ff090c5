from django.urls import path

from accounts import views

urlpatterns = [
    path("profile/", views.profile, name="accounts_profile"),
    path("deactivate/", views.deactivate, name="accounts_deactivate"),
    path("security/", views.security_history, name="accounts_security"),
    # allauth's session list, ours (same URL and name, listed before allauth's urls).
    path("sessions/", views.session_list, name="usersessions_list"),
    path("sessions/<int:session_id>/sign-out/", views.end_session, name="accounts_end_session"),
    # allauth's "check your email" page, ours (same URL and name, listed before allauth's urls).
    path("confirm-email/", views.verification_sent, name="account_email_verification_sent"),
    path("confirm-email/resend/", views.resend_verification, name="accounts_resend_verification"),
    path("confirm-email/change-address/", views.change_pending_address, name="accounts_change_pending_address"),
]
