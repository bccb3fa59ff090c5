from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        # Imported here, not at the top: both import models, and apps.py is read before any model is loaded.
        from billing import stripe_gateway, webhooks  # noqa: F401 - webhooks connects the dj-stripe receivers

        stripe_gateway.configure_sdk()
