"""Merge of issue 7 (leases) and issue 10b (push monitors, maintenance windows); no operations."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0005_i7_leases"),
        ("monitoring", "0006_i10b_push_maintenance"),
    ]

    operations = []
