"""``0006_team_notification_configs`` on a part-three database with per-server configs to merge.

A part-two database (tests/part_two.py) migrated up to ``0005_push_signals`` is what an
installation has before SPEC §18. More configs and deliveries are written into it with plain
SQL (today's models no longer have ``NotificationConfig.server``), then the migration runs:
configs of one team with one type, recipient and secret become one, attached to their servers,
the oldest one's settings win, and every delivery row survives, pointing at the config it went to.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.part_two import manage, orm, part_two_database

HOOK = "https://hooks.example.com/pulseguard"

# Part two's rows (made before 2026-12-31): API (id 1, alice) has the webhook (id 1, cooldown 5, degraded on) with a
# sent DOWN for its change 1 and a certificate alert keyed "expiring:30"; Database (id 2, alice)
# has the disabled e-mail config (id 2). Legacy (id 4) is bob's.
MORE_ROWS = f"""
from django.db import connection
with connection.cursor() as c:
    def config(pk, server, secret, cooldown, degraded, created):
        c.execute(
            "INSERT INTO monitoring_notificationconfig (id, server_id, notification_type, recipient, enabled,"
            " notify_on_failure, notify_on_recovery, notify_on_degraded, cooldown_minutes, secret, created_at)"
            " VALUES (%s, %s, 'webhook', '{HOOK}', %s, %s, %s, %s, %s, %s, %s)",
            [pk, server, True, True, True, degraded, cooldown, secret, created],
        )
    def delivery(config, change, event, key=None):
        c.execute(
            "INSERT INTO monitoring_notificationdelivery (config_id, change_id, dedupe_key, event, status, attempts,"
            " next_attempt_at, last_error, created_at) VALUES (%s, %s, %s, %s, 'sent', 1, %s, '', %s)",
            [config, change, key, event, "2026-12-02 12:00:00+00", "2026-12-02 12:00:00+00"],
        )
    # The same webhook on Database, younger, another cooldown and no degraded: joins config 1.
    config(11, 2, "webhook-signing-secret", 30, False, "2026-12-31 00:00:00+00")
    delivery(11, 3, "down")  # Database's up -> down
    delivery(11, None, "certificate_expiring", "expiring:30")  # the same key as config 1's, another server
    # A twin of config 1 on API itself: stays a config of its own, with its DOWN of the same change.
    config(12, 1, "webhook-signing-secret", 5, True, "2026-12-31 00:00:01+00")
    delivery(12, 1, "down")
    # The same webhook on bob's Legacy (another team), and one with another secret: not merged.
    config(13, 4, "webhook-signing-secret", 5, False, "2026-12-31 00:00:02+00")
    config(14, 2, "another-secret-of-16+chars", 5, False, "2026-12-31 00:00:03+00")
    delivery(14, 3, "down")
    if connection.vendor == "postgresql":
        c.execute("SELECT setval('monitoring_notificationconfig_id_seq', 100)")
with connection.cursor() as c:
    c.execute("SELECT count(*) FROM monitoring_notificationdelivery")
    result = c.fetchone()[0]
"""

READ = """
from monitoring.models import NotificationConfig, NotificationDelivery
result = {
    "configs": [[c.pk, c.team.slug, sorted(s.name for s in c.servers.all()), c.notification_type, c.secret[:7],
                 c.cooldown_minutes, "degraded" in c.events] for c in NotificationConfig.objects.order_by("id")],
    "deliveries": sorted([d.config_id, d.change_id or 0, d.event, d.dedupe_key or ""]
                         for d in NotificationDelivery.objects.all()),
}
"""


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict]]:
    with part_two_database(tmp_path_factory.mktemp("merge")) as url:
        manage(url, "migrate", "monitoring", "0005_push_signals", "--noinput")
        before = orm(url, MORE_ROWS)
        manage(url, "migrate", "--noinput")
        yield before, orm(url, READ)


def test_configs_of_a_team_with_one_destination_become_one_attached_to_their_servers(merged: tuple) -> None:
    _, after = merged
    assert after["configs"] == [
        # The oldest (config 1) survives with its own cooldown and switches, now of both servers.
        [1, "alice", ["API", "Database"], "webhook", "webhook", 5, True],
        [2, "alice", ["Database"], "email", after["configs"][1][4], 15, False],
        # The twin on API stays apart (merging it would make two deliveries of one change to one config).
        [12, "alice", ["API"], "webhook", "webhook", 5, True],
        [13, "bob", ["Legacy"], "webhook", "webhook", 5, False],
        [14, "alice", ["Database"], "webhook", "another", 5, False],
    ]


def test_no_delivery_row_is_lost_and_each_points_at_the_config_it_went_to(merged: tuple) -> None:
    before, after = merged
    assert len(after["deliveries"]) == before == 7
    assert after["deliveries"] == sorted(
        [
            [1, 1, "down", ""],  # part two's
            [1, 0, "certificate_expiring", "1:expiring:30"],  # part two's, API's key
            [2, 2, "recovery", ""],  # part two's (the e-mail config)
            [1, 3, "down", ""],  # config 11's, repointed
            [1, 0, "certificate_expiring", "2:expiring:30"],  # config 11's: Database's key, no clash
            [12, 1, "down", ""],  # the twin's, kept beside config 1's of the same change
            [14, 3, "down", ""],
        ]
    )
