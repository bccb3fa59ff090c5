"""Existing addresses get the one stored spelling (accounts.models.normalize_email).

0004 lowercased in SQL, and SQLite's lower() folds ASCII only: "user@EXÄMPLE.com" stayed as it was
there, so exact lookups on the normalised value would miss it. This pass normalises in Python.
A row whose normalised spelling another row already holds (two accounts that only differed by
non-ASCII case or Unicode composition) is left as it is: merging accounts is a person's decision.
"""

import unicodedata

from django.db import IntegrityError, migrations, transaction


def _normalize(email):
    # A frozen copy of accounts.models.normalize_email: migrations must not import app code.
    return unicodedata.normalize("NFC", (email or "").strip()).lower()


def _normalize_rows(model, using):
    for pk, email in model.objects.using(using).values_list("pk", "email").iterator():
        normalized = _normalize(email)
        if normalized == email:
            continue
        try:
            with transaction.atomic(using=using):
                model.objects.using(using).filter(pk=pk).update(email=normalized)
        except IntegrityError:
            continue


def normalize_emails(apps, schema_editor):
    using = schema_editor.connection.alias
    _normalize_rows(apps.get_model("accounts", "User"), using)
    _normalize_rows(apps.get_model("account", "EmailAddress"), using)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_outbox_to_mail"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(normalize_emails, migrations.RunPython.noop)]
