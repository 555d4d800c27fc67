# PingResult.maintenance on its own, so that a merge with another branch adding the same
# field (same name, same definition) can drop one of the two migrations.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0004_notification_deliveries_incidents"),
    ]

    operations = [
        migrations.AddField(
            model_name="pingresult",
            name="maintenance",
            field=models.BooleanField(default=False),
        ),
    ]
