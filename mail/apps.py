from django.apps import AppConfig


class MailConfig(AppConfig):
    """Delivery: the outbox, its tasks and its sweep. It knows no account and no subscription."""

    name = "mail"
    verbose_name = "Mail"
    default_auto_field = "django.db.models.BigAutoField"
