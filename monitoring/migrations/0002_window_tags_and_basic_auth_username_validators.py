"""Field rules only (no schema change): a maintenance window's tags are checked like every other
tags field, and a basic-auth user name may not contain ':' (SPEC §23)."""

from django.db import migrations, models

import monitoring.validators


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_squashed_part_two"),
    ]

    operations = [
        migrations.AlterField(
            model_name="maintenancewindow",
            name="tags",
            field=models.JSONField(blank=True, default=list, validators=[monitoring.validators.validate_tags]),
        ),
        migrations.AlterField(
            model_name="server",
            name="basic_auth_username",
            field=models.CharField(
                blank=True, max_length=200, validators=[monitoring.validators.validate_basic_auth_username]
            ),
        ),
    ]
