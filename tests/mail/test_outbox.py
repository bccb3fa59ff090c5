import logging

import pytest
from django.core import mail

from mail.models import OutboundEmail
from mail.tasks import send_email
from tests.accounts.mail import code_in, html_body, last_mail_to

pytestmark = pytest.mark.django_db


def test_every_mail_goes_through_the_outbox_with_text_and_html(client, committing, user):
    with committing():
        client.post("/accounts/login/code/", {"email": "alice@example.com"})
    outbound = OutboundEmail.objects.get()
    assert outbound.sent_at is not None
    assert outbound.body == outbound.html == "", "bodies are cleared once sent"
    message = last_mail_to("alice@example.com")
    code = code_in(message)
    assert code in html_body(message)
    assert message.subject.startswith("[Gatehouse] ")


def test_no_code_or_link_reaches_any_log(client, committing, user, caplog):
    caplog.set_level(logging.DEBUG)
    with committing():
        client.post("/accounts/login/code/", {"email": "alice@example.com"})
        client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    code = code_in(mail.outbox[0])
    reset_key = mail.outbox[1].body.split("/accounts/password/reset/key/")[1].split("/")[0]
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert code not in logged
    assert reset_key not in logged


def test_running_the_task_twice_sends_once(committing, db):
    outbound = OutboundEmail.objects.create(
        to=["x@example.com"], from_email="from@example.com", subject="Hello", body="Body", html=""
    )
    send_email.apply(args=[outbound.pk])
    send_email.apply(args=[outbound.pk])
    assert len(mail.outbox) == 1


def test_a_failed_send_keeps_the_mail_for_a_retry(monkeypatch, db):
    outbound = OutboundEmail.objects.create(
        to=["x@example.com"], from_email="from@example.com", subject="Hello", body="Body", html=""
    )

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    with pytest.raises(ConnectionRefusedError):
        send_email.apply(args=[outbound.pk], throw=True, retries=8)
    outbound.refresh_from_db()
    assert outbound.sent_at is None
    assert outbound.body == "Body"
    assert outbound.last_error == "ConnectionRefusedError"
