"""The outbox's own table name, and renderers stored by stable name instead of a code path.

Rows queued before this migration keep their place: the table is renamed, not copied, and each
stored code path becomes the name its renderer is registered under (mail.renderers).
"""

from django.db import migrations, models

# Every code path ever stored in render_with, and its stable name.
RENDERER_NAMES = {"billing.emails.render_ended": "billing.subscription_ended"}


def paths_to_names(apps, schema_editor):
    OutboundEmail = apps.get_model("mail", "OutboundEmail")
    for path, name in RENDERER_NAMES.items():
        OutboundEmail.objects.filter(renderer=path).update(renderer=name)


def names_to_paths(apps, schema_editor):
    OutboundEmail = apps.get_model("mail", "OutboundEmail")
    for path, name in RENDERER_NAMES.items():
        OutboundEmail.objects.filter(renderer=name).update(renderer=path)


def move_content_type(apps, schema_editor):
    # Admin log entries and permissions follow the model (on a fresh database there is none yet).
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="mail", model="outboundemail").exists():
        ContentType.objects.filter(app_label="accounts", model="outboundemail").update(app_label="mail")


class Migration(migrations.Migration):
    dependencies = [
        ("mail", "0001_outbox_from_accounts"),
        ("accounts", "0008_outbox_to_mail"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelTable(name="outboundemail", table=None),
        migrations.AlterModelOptions(name="outboundemail", options={"verbose_name": "outbound email"}),
        migrations.RenameField(model_name="outboundemail", old_name="render_with", new_name="renderer"),
        migrations.RunPython(paths_to_names, names_to_paths),
        migrations.RunPython(move_content_type, migrations.RunPython.noop),
    ]
