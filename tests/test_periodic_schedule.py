"""The beat schedule: created by a migration, kept when edited in the admin, every task real."""

from importlib import import_module

import pytest
from django.apps import apps
from django_celery_beat.models import PeriodicTask

from config.celery import app

pytestmark = pytest.mark.django_db

schedule_migration = import_module("billing.migrations.0005_periodic_schedule")

EXPECTED = {
    "Expiry sweep": ("billing.sweep_expired_subscriptions", "every 5 minutes"),
    "Outbox resend": ("mail.resend_lost_mail", "every minute"),
    "Duplicate refunds retry": ("billing.retry_unresolved_duplicates", "every 10 minutes"),
    "Stripe reconciliation": ("billing.reconcile_subscriptions", "30 3 * * * (m/h/dM/MY/d) UTC"),
    "Expired credentials cleanup": ("accounts.delete_expired_credentials", "0 4 * * * (m/h/dM/MY/d) UTC"),
}


def test_after_migrate_the_periodic_tasks_exist_in_beats_tables():
    tasks = PeriodicTask.objects.filter(name__in=EXPECTED).select_related("interval", "crontab")
    found = {task.name: (task.task, str(task.interval or task.crontab)) for task in tasks if task.enabled}
    assert found == EXPECTED


def test_every_scheduled_task_is_registered_with_the_celery_app():
    app.loader.import_default_modules()  # what a worker does at start: autodiscovers */tasks.py
    assert {task for task, _ in EXPECTED.values()} <= set(app.tasks)


def test_expiring_tasks_do_not_pile_up_while_no_worker_runs():
    expiry = dict(PeriodicTask.objects.filter(name__in=EXPECTED).values_list("name", "expire_seconds"))
    assert expiry["Expiry sweep"] < 5 * 60
    assert expiry["Outbox resend"] < 60


def test_running_the_migration_again_keeps_admin_edits_and_adds_nothing():
    sweep = PeriodicTask.objects.get(name="Expiry sweep")
    sweep.enabled = False
    sweep.save()
    count = PeriodicTask.objects.count()

    schedule_migration.create_schedule(apps, None)

    assert PeriodicTask.objects.count() == count
    assert PeriodicTask.objects.get(name="Expiry sweep").enabled is False


def test_reversing_the_migration_removes_only_its_tasks():
    PeriodicTask.objects.create(name="Someone else's", task="x.y", interval=PeriodicTask.objects.first().interval)
    schedule_migration.remove_schedule(apps, None)
    assert list(PeriodicTask.objects.values_list("name", flat=True)) == ["Someone else's"]
