"""The mail outbox's safety net: rows whose send task was lost are dispatched again.

A row is written in the same transaction as the change it reports, and its task is published
after commit (accounts.adapters.enqueue_email). If the broker was down at that moment the task
never existed; this sweep finds such rows by age and publishes them again, backing off per row.
The send task itself claims a row under a lock and sets sent_at, so a row dispatched twice is
still sent once.
"""

import json
import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import OutboundEmail

logger = logging.getLogger("gatehouse.mail")

RESEND_BATCH_SIZE = 200


def enqueue_deferred(mails: dict[str, tuple[str, dict]], *, to_hint: str = "") -> list[int]:
    """Store mails rendered when sent (dedupe key -> (renderer path, its kwargs)) in one statement.

    For sweeps that report thousands of facts at once: one INSERT ... ON CONFLICT (dedupe_key) DO
    NOTHING RETURNING id stores the ones not stored before (no model instances: at 100,000 mails
    Django's per-object work cost more than the database), and one task per batch sends them
    after commit. The renderer gets ``render_args`` and returns the EmailMessage, or None.
    """
    if not mails:
        return []
    now = timezone.now()
    quote = connection.ops.quote_name
    table = quote(OutboundEmail._meta.db_table)
    constants = {"to": "'[]'", "body": "''", "html": "''", "attempts": "0", "last_error": "''"}
    shared = {"from_email": "%s", "subject": "%s", "created_at": "%s"}
    rows_in = [(key, path, json.dumps(kwargs)) for key, (path, kwargs) in mails.items()]
    keys, renderers, args = zip(*rows_in, strict=True)
    if connection.vendor == "postgresql":
        # Three array parameters for any number of rows (placeholders per row cost more than the insert).
        per_row = {"dedupe_key": "k", "render_with": "r", "render_args": "a::jsonb"}
        source = "FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(k, r, a)"
        params = [settings.DEFAULT_FROM_EMAIL, to_hint, now, list(keys), list(renderers), list(args)]
        constants["to"] = "'[]'::jsonb"
    else:
        per_row = {"dedupe_key": "k", "render_with": "r", "render_args": "a"}
        rows = ", ".join(["(%s, %s, %s)"] * len(mails))
        source = f"FROM (SELECT column1 AS k, column2 AS r, column3 AS a FROM (VALUES {rows}))"  # noqa: S608
        params = [settings.DEFAULT_FROM_EMAIL, to_hint, now]
        params += [value for row in zip(keys, renderers, args, strict=True) for value in row]
    columns = [*constants, *shared, *per_row]
    names = ", ".join(quote(OutboundEmail._meta.get_field(name).column) for name in columns)
    values = ", ".join([*constants.values(), *shared.values(), *per_row.values()])
    sql = (
        f"INSERT INTO {table} ({names}) SELECT {values} {source} "  # noqa: S608 - names are ours
        f"WHERE true ON CONFLICT ({quote('dedupe_key')}) DO NOTHING RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = sorted(row[0] for row in cursor.fetchall())
    if ids:
        transaction.on_commit(partial(dispatch_batch, ids), robust=True)
    return ids


def dispatch_batch(outbound_email_ids: list[int]) -> bool:
    from accounts.tasks import send_emails

    try:
        send_emails.delay(outbound_email_ids)
    except Exception:
        logger.warning("mail_dispatch_failed", extra={"outbound_emails": len(outbound_email_ids)}, exc_info=True)
        return False
    return True


def resend_lost_mail(*, now=None) -> dict[str, int]:
    """Dispatch unsent mail that waited too long; returns how many rows were due and dispatched."""
    now = now or timezone.now()
    due = list(
        OutboundEmail.objects.filter(_due(now)).order_by("created_at").values_list("pk", "attempts")[:RESEND_BATCH_SIZE]
    )
    dispatched = 0
    for pk, attempts in due:
        if claim(pk, attempts=attempts, now=now) and dispatch(pk):
            dispatched += 1
    return {"due": len(due), "dispatched": dispatched}


def claim(pk: int, *, attempts: int, now) -> bool:
    """Compare-and-set on attempts: of two sweeps that read the same row, only one dispatches it."""
    return bool(
        OutboundEmail.objects.filter(pk=pk, sent_at__isnull=True, attempts=attempts).update(
            attempts=F("attempts") + 1, resent_at=now
        )
    )


def _due(now) -> Q:
    """Unsent rows quiet for longer than the wait (doubled per attempt already made), below the cap.

    Quiet means since the last resend, or since the row was written if it was never resent.
    """
    wait = timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS)
    due = Q()
    for attempts in range(settings.OUTBOX_MAX_ATTEMPTS):
        quiet_since = now - wait * 2**attempts
        due |= Q(attempts=attempts) & (
            Q(resent_at__isnull=True, created_at__lte=quiet_since) | Q(resent_at__lte=quiet_since)
        )
    return Q(sent_at__isnull=True) & due


def dispatch(outbound_email_id: int) -> bool:
    """Publish the send task; a broker outage is logged, not raised: the row waits for the next sweep."""
    from accounts.tasks import send_email

    try:
        send_email.delay(outbound_email_id)
    except Exception:
        logger.warning("mail_dispatch_failed", extra={"outbound_email": outbound_email_id}, exc_info=True)
        return False
    return True
