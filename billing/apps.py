from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        # Imported here, not at the top: they import models, and apps.py is read before any model is loaded.
        # webhooks connects the dj-stripe receivers; emails registers the renderers queued mail names.
        from accounts import deactivation
        from billing import emails, stripe_gateway, webhooks  # noqa: F401
        from billing.deactivation import CancelSubscriptionsOnDeactivation

        stripe_gateway.configure_sdk()
        deactivation.register("billing", CancelSubscriptionsOnDeactivation())
