"""Joins push monitors and maintenance windows (issue 10, on the engine of issue 7) to the rest.

PingResult.maintenance, which both the history (issue 8) and maintenance branches added, is
added once, by 0005_i8_history_storage.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0007_i7b_merge"),
        ("monitoring", "0009_merge_i7"),
    ]

    operations = []
