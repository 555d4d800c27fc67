"""Joins the engine's leases (issue 7, from 0004) to the merged branches of issues 8 to 11."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0005_i7_leases"),
        ("monitoring", "0008_merge_i8_i9_i10_i11"),
    ]

    operations = []
