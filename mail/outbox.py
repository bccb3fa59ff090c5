"""The outbox, as the other apps use it: store a mail with the change it reports; it leaves on commit.

A row is written in the same transaction as the change it reports, and its send task is
published after commit. If the broker is down then, the row waits for the resend sweep.
"""

import json

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from mail import delivery, tasks
from mail.models import OutboundEmail
from mail.publish import enqueue_on_commit


def store(message: EmailMessage, *, dedupe_key: str | None = None) -> OutboundEmail | None:
    """Store a rendered EmailMessage; a Celery task sends it once this transaction commits.

    With a ``dedupe_key`` the mail is stored at most once for that key (a unique column, so two
    concurrent transactions cannot both store it); a repeat returns None.
    """
    html = next((content for content, mimetype in getattr(message, "alternatives", []) if mimetype == "text/html"), "")
    fields = {"to": list(message.to), "from_email": message.from_email, "subject": message.subject}
    fields.update(body=message.body, html=html, dedupe_key=dedupe_key)
    if dedupe_key is None:
        outbound = OutboundEmail.objects.create(**fields)
    else:
        try:
            with transaction.atomic():
                outbound = OutboundEmail.objects.create(**fields)
        except IntegrityError:
            return None
    enqueue_on_commit(tasks.send_email, outbound.pk)
    return outbound


def store_deferred(mails: dict[str, tuple[str, dict]], *, to_hint: str = "") -> list[int]:
    """Store mails rendered when sent (dedupe key -> (renderer name, its kwargs)) in one statement.

    For sweeps that report thousands of facts at once: one INSERT ... ON CONFLICT (dedupe_key) DO
    NOTHING RETURNING id stores the ones not stored before (no model instances: at 100,000 mails
    Django's per-object work cost more than the database), and one task per batch sends them
    after commit. The renderer (mail.renderers) gets ``render_args`` and returns the EmailMessage, or None.
    """
    if not mails:
        return []
    sql, params = _deferred_insert(mails, to_hint=to_hint)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = sorted(row[0] for row in cursor.fetchall())
    if ids:
        enqueue_on_commit(tasks.send_emails, ids)
    return ids


def resend_lost_mail(*, now=None) -> dict[str, int]:
    """The resend sweep (beat runs it as mail.resend_lost_mail): how many rows were due and dispatched."""
    return delivery.resend_lost(dispatch=tasks.dispatch, now=now)


def _deferred_insert(mails: dict[str, tuple[str, dict]], *, to_hint: str) -> tuple[str, list]:
    now = timezone.now()
    quote = connection.ops.quote_name
    table = quote(OutboundEmail._meta.db_table)
    constants = {"to": "'[]'", "body": "''", "html": "''", "attempts": "0", "last_error": "''"}
    shared = {"from_email": "%s", "subject": "%s", "created_at": "%s"}
    keys, names, args = zip(*((key, name, json.dumps(kwargs)) for key, (name, kwargs) in mails.items()), strict=True)
    if connection.vendor == "postgresql":
        # Three array parameters for any number of rows (placeholders per row cost more than the insert).
        per_row = {"dedupe_key": "k", "renderer": "r", "render_args": "a::jsonb"}
        source = "FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(k, r, a)"
        params = [settings.DEFAULT_FROM_EMAIL, to_hint, now, list(keys), list(names), list(args)]
        constants["to"] = "'[]'::jsonb"
    else:
        per_row = {"dedupe_key": "k", "renderer": "r", "render_args": "a"}
        rows = ", ".join(["(%s, %s, %s)"] * len(mails))
        source = f"FROM (SELECT column1 AS k, column2 AS r, column3 AS a FROM (VALUES {rows}))"  # noqa: S608
        params = [settings.DEFAULT_FROM_EMAIL, to_hint, now]
        params += [value for row in zip(keys, names, args, strict=True) for value in row]
    columns = [*constants, *shared, *per_row]
    column_names = ", ".join(quote(OutboundEmail._meta.get_field(name).column) for name in columns)
    values = ", ".join([*constants.values(), *shared.values(), *per_row.values()])
    sql = (
        f"INSERT INTO {table} ({column_names}) SELECT {values} {source} "  # noqa: S608 - names are ours
        f"WHERE true ON CONFLICT ({quote('dedupe_key')}) DO NOTHING RETURNING {quote('id')}"
    )
    return sql, params
