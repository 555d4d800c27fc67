"""Joins the branches of issues 8 (history storage), 9 (the cache table of the login throttle), 10 (HTTP requests, metrics, certificate
alerts) and 11 (status pages and badges), which each started from 0004."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0005_i8_history_storage"),
        ("monitoring", "0005_i9_cache_table"),
        ("monitoring", "0005_i11_status_pages_badges"),
        ("monitoring", "0007_i10_certificate_alerts"),
    ]

    operations = []
