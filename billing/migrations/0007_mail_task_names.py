"""The outbox's tasks moved to the mail app: the beat entry calls them by their new name."""

from django.db import migrations
from django.utils import timezone

RENAMED = {"accounts.resend_lost_mail": "mail.resend_lost_mail"}


def rename(apps, schema_editor, names=RENAMED):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    changed = sum(PeriodicTask.objects.filter(task=old).update(task=new) for old, new in names.items())
    if changed:  # a running beat reloads its schedule when this timestamp moves
        PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def rename_back(apps, schema_editor):
    rename(apps, schema_editor, names={new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_reconciliation_run"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(rename, rename_back)]
