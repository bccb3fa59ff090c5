"""Mail queued before the outbox moved from accounts to mail is still sent after the move."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from billing.models import Plan, Subscription, SubscriptionStatus
from mail.models import OutboundEmail
from mail.tasks import send_email
from tests.billing.fake_billing import ensure_demo_plans
from tests.factories import UserFactory

BEFORE = [("accounts", "0007_outbox_deferred_rendering"), ("mail", None)]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_mail_queued_before_the_move_is_sent_after_it():
    ensure_demo_plans()  # an earlier transactional test's flush removed them
    user = UserFactory(email="ended@example.com")
    ended = Subscription.objects.create(
        user=user,
        plan=Plan.objects.get(code="pro-monthly"),
        stripe_subscription_id="sub_before_the_move",
        status=SubscriptionStatus.CANCELED,
        current_period_end=timezone.now() - timedelta(days=1),
    )
    leaf = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        state = migrate(BEFORE).loader.project_state(BEFORE[0])
        old = state.apps.get_model("accounts", "OutboundEmail")
        plain = old.objects.create(
            to=["queued@example.com"], from_email="from@example.com", subject="Queued", body="Body", html="<p>Body</p>"
        )
        deferred = old.objects.create(
            to=[],
            from_email="from@example.com",
            subject="(rendered when sent)",
            body="",
            dedupe_key="ended:sub_before_the_move",
            render_with="billing.emails.render_ended",
            render_args={"subscription_id": ended.pk},
        )
    finally:
        migrate(leaf)

    assert OutboundEmail._meta.db_table == "mail_outboundemail"
    assert OutboundEmail.objects.get(pk=deferred.pk).renderer == "billing.subscription_ended"
    send_email(plain.pk)
    send_email(deferred.pk)
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["queued@example.com"], "Queued"),
        (["ended@example.com"], "[Gatehouse] Your Pro subscription has ended"),
    ]
    assert not OutboundEmail.objects.filter(sent_at__isnull=True).exists()
