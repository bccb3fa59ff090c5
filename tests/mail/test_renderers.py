"""Mail rendered when sent names its renderer by a stable name, never by a code path."""

import pathlib
import uuid

import pytest
from django.core import mail

from mail import renderers
from mail.models import OutboundEmail
from mail.tasks import send_email

pytestmark = pytest.mark.django_db

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_billing_registers_the_name_its_queued_mail_carries():
    from billing.emails import ENDED_RENDERER

    assert ENDED_RENDERER == "billing.subscription_ended"
    assert ENDED_RENDERER in renderers.registered()


def test_a_name_registered_twice_is_refused():
    name = f"tests.once.{uuid.uuid4().hex}"
    renderers.renderer(name)(lambda: None)
    with pytest.raises(ValueError, match="registered twice"):
        renderers.renderer(name)(lambda: None)


def test_a_row_whose_renderer_this_release_lacks_waits_instead_of_failing_the_worker():
    row = OutboundEmail.objects.create(
        to=[], from_email="from@example.com", subject="(later)", body="", renderer="gone.renderer"
    )
    send_email(row.pk)
    row.refresh_from_db()
    assert mail.outbox == []
    assert (row.sent_at, row.attempts, row.last_error) == (None, 1, "unknown renderer gone.renderer")


def test_no_app_loads_code_by_a_stored_path():
    offenders = [
        str(path.relative_to(ROOT))
        for app in ("accounts", "billing", "mail", "config")
        for path in (ROOT / app).rglob("*.py")
        if "import_string" in path.read_text()
    ]
    assert offenders == []
