"""Mail end to end through a real Celery worker on the real Redis, and through a broker outage.

These are the only tests that do not run tasks eagerly: the request publishes to Redis, a
`celery -A config worker` subprocess consumes, and its file mail backend shows what went out.
"""

import json
import socket
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from mail import outbox
from mail.models import OutboundEmail
from mail.tasks import resend_lost_mail
from tests.celery_worker import Worker, publishing_to, require_redis_and_postgres, wait_until

PASSWORD = "a-long-and-unusual-passphrase-42"


def closed_port_url() -> str:
    """A Redis URL nothing listens on: the broker is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def sign_up(client, username="bob"):
    data = {"email": f"{username}@example.com", "username": username, "password1": PASSWORD, "password2": PASSWORD}
    return client.post("/accounts/signup/", data)


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        require_redis_and_postgres()
    running = Worker(tmp_path_factory.mktemp("celery-worker"))
    running.start()
    yield running
    running.stop()


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_on_redis_sends_the_sign_up_mail(client, worker):
    with publishing_to():
        response = sign_up(client)
    assert response.status_code == 302
    wait_until(lambda: OutboundEmail.objects.filter(sent_at__isnull=False).exists(), what="the worker to send")
    sent = [message for message in worker.mails() if "To: bob@example.com" in message]
    assert len(sent) == 1, worker.log()[-2000:]
    assert "/accounts/confirm-email/" in sent[0]
    assert OutboundEmail.objects.get().body == "", "the worker cleared the body it sent"
    # The worker keeps our logging (not Celery's): one JSON line for the task run, with its fields.
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    assert {"task": "mail.send_email", "result": "sent"}.items() <= next(
        line for line in lines if line.get("task") == "mail.send_email"
    ).items()


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_sign_up_succeeds_and_the_mail_goes_out_once_it_is_back(client, worker):
    with publishing_to(closed_port_url()):
        response = sign_up(client, "carol")
    assert response.status_code == 302
    waiting = OutboundEmail.objects.get()
    assert waiting.sent_at is None, "the mail waits in the outbox"
    assert waiting.body

    # The broker was down for ten minutes; now beat's resend sweep runs on the worker, twice in a
    # row (two beat ticks before the first dispatch was sent would do the same).
    OutboundEmail.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    log_start = len(worker.log())
    with publishing_to():
        resend_lost_mail.delay()
        resend_lost_mail.delay()
    # Two sweeps and one send: the second sweep finds the mail just dispatched and leaves it.
    wait_until(lambda: worker.log()[log_start:].count(" succeeded in ") >= 3, what="both sweeps and the send")
    sent = OutboundEmail.objects.get()
    assert sent.sent_at is not None
    assert sent.attempts == 2, "one dispatch by the sweep, one send"
    assert len([message for message in worker.mails() if "To: carol@example.com" in message]) == 1


def test_with_the_broker_down_the_mail_waits_and_the_sweep_sends_it_once_when_it_is_back(client, committing, db):
    """The same outage without Redis (runs everywhere): the broker comes back as in-process tasks."""
    with publishing_to(closed_port_url()), committing():
        response = sign_up(client, "dave")
    assert response.status_code == 302
    assert OutboundEmail.objects.get().sent_at is None
    assert mail.outbox == []

    later = timezone.now() + timedelta(minutes=10)
    assert outbox.resend_lost_mail(now=later) == {"due": 1, "dispatched": 1}
    assert outbox.resend_lost_mail(now=later + timedelta(hours=1)) == {"due": 0, "dispatched": 0}
    assert [message.to for message in mail.outbox] == [["dave@example.com"]]
