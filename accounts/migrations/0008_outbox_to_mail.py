"""The outbox now belongs to the mail app (mail.0001 took over the model's state; no table changes here)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_outbox_deferred_rendering"),
        ("mail", "0001_outbox_from_accounts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OutboundEmail")],
            database_operations=[],
        ),
    ]
