"""Servers created, resumed or edited together are checked at once, then spread (SPEC §23):
``Server.spread_seconds`` holds the once-only delay of the check after that first one."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_window_tags_and_basic_auth_username_validators"),
    ]

    operations = [
        migrations.AddField(
            model_name="server",
            name="spread_seconds",
            field=models.FloatField(default=0, editable=False),
        ),
    ]
