from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from accounts.mfa import admin_has_permission
from config import views

# Staff sign in through allauth too, so its rate limits and email verification apply.
admin.site.login = secure_admin_login(admin.site.login)
# Staff who must use a second factor need a session that passed it (accounts.mfa).
admin.site.has_permission = admin_has_permission
admin.site.site_header = "Gatehouse administration"
admin.site.site_title = "Gatehouse admin"

handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    # Also answered by config.probes.ProbeMiddleware, whatever the Host: see config/health.py.
    path("livez", views.livez, name="livez"),
    path("readyz", views.readyz, name="readyz"),
    path("healthz", views.healthz, name="healthz"),
    path("status/", views.status, name="status"),
    path("favicon.ico", views.favicon, name="favicon"),
    # Addresses people type or guess: the plans are at /billing/pricing/.
    path("pricing/", RedirectView.as_view(pattern_name="billing_pricing", query_string=True)),
    path("billing/", RedirectView.as_view(pattern_name="billing_pricing", query_string=True)),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("api/billing/", include("billing.api_urls")),
    path("api/", include("accounts.api.urls")),
    path("billing/", include("billing.urls")),
    path("stripe/", include("billing.stripe_urls", namespace="djstripe")),
    path("admin/", admin.site.urls),
]
