"""The beat schedule, created once and then edited in the admin (Periodic tasks).

Idempotent: a task that already exists by name is left as it is, so running this again (or on a
database where someone already created or edited the tasks) neither duplicates nor overwrites them.
Reversing removes only these tasks by name.
"""

from django.db import migrations
from django.utils import timezone

EVERY_MINUTE = {"every": 1, "period": "minutes"}
EVERY_5_MINUTES = {"every": 5, "period": "minutes"}
EVERY_10_MINUTES = {"every": 10, "period": "minutes"}
DAILY_0330_UTC = {"minute": "30", "hour": "3", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
DAILY_0400_UTC = {"minute": "0", "hour": "4", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}

# name: (task, interval or crontab, expire_seconds, description)
SCHEDULE = {
    "Expiry sweep": (
        "billing.sweep_expired_subscriptions",
        {"interval": EVERY_5_MINUTES},
        240,
        "Ends access past current_period_end + BILLING_GRACE_HOURS when no webhook did; re-syncs from Stripe first.",
    ),
    "Outbox resend": (
        "mail.resend_lost_mail",
        {"interval": EVERY_MINUTE},
        50,
        "Dispatches again mail whose send task was lost while the broker was down.",
    ),
    "Duplicate refunds retry": (
        "billing.retry_unresolved_duplicates",
        {"interval": EVERY_10_MINUTES},
        540,
        "Dispatches again the cancel-and-refund of duplicate subscriptions whose task was lost or gave up.",
    ),
    "Stripe reconciliation": (
        "billing.reconcile_subscriptions",
        {"crontab": DAILY_0330_UTC},
        3600,
        "Compares every subscription with access with Stripe and repairs drift (see Reconciliation runs).",
    ),
    "Expired credentials cleanup": (
        "accounts.delete_expired_credentials",
        {"crontab": DAILY_0400_UTC},
        3600,
        "Deletes expired refresh tokens (simplejwt's flushexpiredtokens), API logins, login codes, hand-offs.",
    ),
}


def create_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    for name, (task, when, expire_seconds, description) in SCHEDULE.items():
        if "interval" in when:
            schedule = {"interval": IntervalSchedule.objects.get_or_create(**when["interval"])[0]}
        else:
            schedule = {"crontab": CrontabSchedule.objects.get_or_create(**when["crontab"], timezone="UTC")[0]}
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "expire_seconds": expire_seconds, "description": description, **schedule},
        )
    # A running beat reloads its schedule when this timestamp moves (the model's signals do not
    # fire for migration models).
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_subscription_duplicates"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
