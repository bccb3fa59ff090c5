from django.db import migrations
from django.db.models.functions import Lower


def lowercase_emails(apps, schema_editor):
    # Addresses are stored lowercased from now on (User.save); rows saved before keep their
    # capitals otherwise, and allauth's lowercase lookups would miss them. The case-insensitive
    # unique constraint guarantees no two rows collide here.
    User = apps.get_model("accounts", "User")
    User.objects.exclude(email=Lower("email")).update(email=Lower("email"))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_outbox")]

    operations = [migrations.RunPython(lowercase_emails, migrations.RunPython.noop)]
