from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_normalize_existing_emails"),
    ]

    operations = [
        migrations.AddField(
            model_name="profile",
            name="picture",
            field=models.FileField(blank=True, db_index=True, max_length=100, upload_to="pictures/", verbose_name="picture"),
        ),
    ]
