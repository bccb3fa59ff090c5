"""dj-stripe's webhook route (same name, so dj-stripe's admin links to it) served by our view."""

from django.urls import path

from billing.webhook_views import StripeWebhookView

app_name = "djstripe"

urlpatterns = [
    path("webhook/<uuid:uuid>/", StripeWebhookView.as_view(), name="djstripe_webhook_by_uuid"),
]
