from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("billing", "0009_integrity_report")]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="end_mail_held",
            field=models.BooleanField(default=False),
        ),
    ]
