"""The outbox moves from accounts to mail: the model's state only; its table and rows stay as they are."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0007_outbox_deferred_rendering"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OutboundEmail",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("to", models.JSONField()),
                        ("from_email", models.CharField(max_length=254)),
                        ("subject", models.CharField(max_length=998)),
                        ("body", models.TextField()),
                        ("html", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("sent_at", models.DateTimeField(blank=True, null=True)),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("last_error", models.CharField(blank=True, max_length=500)),
                        ("dedupe_key", models.CharField(blank=True, max_length=255, null=True, unique=True)),
                        ("render_with", models.CharField(blank=True, max_length=200)),
                        ("render_args", models.JSONField(blank=True, default=dict)),
                        ("resent_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "accounts_outboundemail",
                        "indexes": [
                            models.Index(
                                condition=models.Q(("sent_at__isnull", True)), fields=["created_at"], name="outbox_unsent"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
