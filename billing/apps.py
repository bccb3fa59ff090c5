from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        # Connects the dj-stripe receivers, and registers the mail renderers queued rows name.
        from billing import emails, webhooks  # noqa: F401
