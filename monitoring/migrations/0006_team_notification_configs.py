"""Notification configs belong to a team and serve any number of its servers (SPEC §18).

Part two's configs hung off one server each. This migration:

1. adds ``team``, ``servers``, ``is_default`` and ``events``;
2. merges the per-server configs (``merge_into_team_configs``): one team config per distinct
   (team, notification_type, recipient, secret), attached to the servers that had one, keeping
   the oldest config (its ``enabled``, cooldown and switches win) and repointing every
   delivery of the others to it. Two configs of the *same* server are never merged into one
   (they stay twins, as they were): their deliveries of one status change would collide on
   the (change, config) constraint, and no delivery row may be lost;
3. turns ``notify_on_failure``/``notify_on_recovery``/``notify_on_degraded`` into ``events``
   (failure also meant certificate alerts; maintenance, location and test are on, reminder off);
4. names the server in certificate alerts' ``dedupe_key`` (``<server id>:…``): a merged config
   hears of several servers, which may share a certificate, and each must keep its own once-only
   key (the alert rules write keys so from now on);
5. drops ``server`` and the switches.
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

import monitoring.models.notifications

ALWAYS = ["maintenance", "location", "test"]


def events_of(config: Any) -> list[str]:
    events = []
    if config.notify_on_failure:
        events.append("down")
    if config.notify_on_recovery:
        events.append("recovery")
    if config.notify_on_degraded:
        events.append("degraded")
    if config.notify_on_failure:
        events.append("certificate")
    return events + ALWAYS


def merge_into_team_configs(apps: Any, schema_editor: Any) -> None:
    Config = apps.get_model("monitoring", "NotificationConfig")
    Delivery = apps.get_model("monitoring", "NotificationDelivery")
    Link = Config.servers.through
    # 4. The server in certificate alerts' once-only keys (each config has one server still).
    for delivery in Delivery.objects.filter(dedupe_key__isnull=False).select_related("config__server"):
        delivery.dedupe_key = f"{delivery.config.server_id}:{delivery.dedupe_key}"
        delivery.save(update_fields=["dedupe_key"])
    # 2. Oldest first: the first of each key survives and the later ones join it.
    survivors: dict[tuple[int, str, str, str], list[tuple[Any, set[int]]]] = {}
    for config in Config.objects.select_related("server").order_by("created_at", "id"):
        key = (config.server.team_id, config.notification_type, config.recipient, config.secret)
        group = survivors.setdefault(key, [])
        home = next((entry for entry in group if config.server_id not in entry[1]), None)
        if home is None:
            config.team_id = config.server.team_id
            config.events = events_of(config)
            config.save(update_fields=["team", "events"])
            group.append((config, {config.server_id}))
            continue
        survivor, servers = home
        Delivery.objects.filter(config_id=config.pk).update(config_id=survivor.pk)
        servers.add(config.server_id)
        config.delete()
    Link.objects.bulk_create(
        [
            Link(notificationconfig_id=survivor.pk, server_id=server_id)
            for group in survivors.values()
            for survivor, servers in group
            for server_id in sorted(servers)
        ]
    )
    if schema_editor.connection.vendor == "postgresql":
        # Fire the deferred foreign-key checks now: PostgreSQL refuses the ALTER TABLEs that
        # follow in this transaction while trigger events are pending.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [
        ("authentication", "0002_teams_keys_audit_accounts"),
        ("monitoring", "0005_push_signals"),
    ]

    operations = [
        # The old FK's reverse name would clash with the new M2M's while both exist.
        migrations.AlterField(
            model_name="notificationconfig",
            name="server",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="monitoring.server"
            ),
        ),
        migrations.AddField(
            model_name="notificationconfig",
            name="events",
            field=models.JSONField(
                default=monitoring.models.notifications.default_events,
                validators=[monitoring.models.notifications.validate_events],
            ),
        ),
        migrations.AddField(
            model_name="notificationconfig",
            name="is_default",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="notificationconfig",
            name="servers",
            field=models.ManyToManyField(blank=True, related_name="notification_configs", to="monitoring.server"),
        ),
        migrations.AddField(
            model_name="notificationconfig",
            name="team",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notification_configs",
                to="authentication.team",
            ),
        ),
        migrations.RunPython(merge_into_team_configs, migrations.RunPython.noop),
        migrations.RemoveField(model_name="notificationconfig", name="notify_on_degraded"),
        migrations.RemoveField(model_name="notificationconfig", name="notify_on_failure"),
        migrations.RemoveField(model_name="notificationconfig", name="notify_on_recovery"),
        migrations.RemoveField(model_name="notificationconfig", name="server"),
        migrations.AlterField(
            model_name="notificationconfig",
            name="team",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notification_configs",
                to="authentication.team",
            ),
        ),
        migrations.AlterModelOptions(name="notificationconfig", options={"ordering": ["team_id", "id"]}),
    ]
