"""The outbox's resend sweep: a mail whose task was lost goes out later, once."""

import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from mail import delivery, outbox
from mail.models import OutboundEmail
from mail.tasks import resend_lost_mail as resend_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched(monkeypatch):
    """The ids the sweep publishes (the broker is not the subject here)."""
    published = []
    monkeypatch.setattr("mail.tasks.send_email.delay", published.append)
    return published


def waiting_mail(*, age: timedelta, **fields) -> OutboundEmail:
    row = OutboundEmail.objects.create(
        to=["bob@example.com"], from_email="from@example.com", subject="Hello", body="Body", **fields
    )
    OutboundEmail.objects.filter(pk=row.pk).update(created_at=timezone.now() - age)
    return row


def test_it_leaves_a_fresh_mail_to_the_task_already_on_its_way(dispatched, settings):
    settings.OUTBOX_RESEND_AFTER_SECONDS = 120
    waiting_mail(age=timedelta(seconds=60))
    assert outbox.resend_lost_mail() == {"due": 0, "dispatched": 0}
    assert dispatched == []


def test_it_dispatches_a_mail_left_waiting_and_ignores_sent_ones(dispatched):
    lost = waiting_mail(age=timedelta(minutes=5))
    waiting_mail(age=timedelta(minutes=5), sent_at=timezone.now())
    assert outbox.resend_lost_mail() == {"due": 1, "dispatched": 1}
    assert dispatched == [lost.pk]
    lost.refresh_from_db()
    assert lost.attempts == 1
    assert lost.resent_at is not None


def test_it_waits_twice_as_long_after_each_attempt_and_gives_up_at_the_cap(dispatched, settings):
    settings.OUTBOX_RESEND_AFTER_SECONDS, settings.OUTBOX_MAX_ATTEMPTS = 60, 3
    row = waiting_mail(age=timedelta(minutes=2))
    start = timezone.now()
    ticks = {
        minute: outbox.resend_lost_mail(now=start + timedelta(minutes=minute))["dispatched"] for minute in range(20)
    }
    # 60 s after writing (already past), then 2 min and 4 min after each resend, then never.
    assert [minute for minute, count in ticks.items() if count] == [0, 2, 6]
    row.refresh_from_db()
    assert row.attempts == 3


def test_two_sweeps_at_the_same_moment_dispatch_a_mail_once(dispatched):
    waiting_mail(age=timedelta(minutes=5))
    now = timezone.now()
    outbox.resend_lost_mail(now=now)
    outbox.resend_lost_mail(now=now)
    assert len(dispatched) == 1


def test_a_sweep_that_read_a_row_another_sweep_claimed_first_leaves_it():
    row = waiting_mail(age=timedelta(minutes=5))
    now = timezone.now()
    assert delivery.claim(row.pk, attempts=0, now=now) is True
    assert delivery.claim(row.pk, attempts=0, now=now) is False, "0 rows: the other sweep got there first"


def test_a_resent_mail_is_sent_once_even_when_its_first_task_turns_up_too(committing):
    row = waiting_mail(age=timedelta(minutes=5))
    outbox.resend_lost_mail()  # eager in tests: the task runs and sends now
    from mail.tasks import send_email

    send_email.apply(args=[row.pk])  # the lost task was only late
    assert len(mail.outbox) == 1


def test_with_the_broker_still_down_the_mail_keeps_waiting(monkeypatch, caplog):
    def broker_down(*args):
        raise ConnectionRefusedError("redis down")

    monkeypatch.setattr("mail.tasks.send_email.delay", broker_down)
    row = waiting_mail(age=timedelta(minutes=5))
    assert outbox.resend_lost_mail() == {"due": 1, "dispatched": 0}
    row.refresh_from_db()
    assert row.sent_at is None
    assert "task_enqueue_failed" in caplog.text  # one event for every publish the broker refused


def test_the_task_logs_one_line_with_the_counts(dispatched, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.tasks")
    waiting_mail(age=timedelta(minutes=5))
    resend_task.apply()
    (record,) = [r for r in caplog.records if getattr(r, "task", None) == "mail.resend_lost_mail"]
    assert (record.due, record.dispatched) == (1, 1)
