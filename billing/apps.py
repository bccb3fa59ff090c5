from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        # Imported here, not at the top: both import models, which the app registry is still loading above.
        from billing import stripe_gateway, webhooks  # noqa: F401 - webhooks connects the dj-stripe receivers

        stripe_gateway.configure_sdk()
