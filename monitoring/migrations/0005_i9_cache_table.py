"""The database cache's table (pulseguard_cache): the login throttle's counters, shared by every process.

Created here, whatever CACHE_TYPE says now, so that ``migrate`` (make run, docker, CI, tests)
is all an installation needs; the same as ``manage.py createcachetable`` would make.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

TABLE = "pulseguard_cache"


def create(apps: Any, schema_editor: Any) -> None:
    # create_table skips an existing table, so a createcachetable run earlier does no harm.
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, TABLE, dry_run=False)


def drop(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0004_notification_deliveries_incidents")]

    operations = [migrations.RunPython(create, drop)]
