"""The squashed migration: a new database from it alone, and a part-two database upgraded by it.

``0001_squashed_part_two`` replaces part two's sixteen migrations, whose files are gone. A
database made by part two's code (tests/part_two.py loads one, with rows in every table) must
count it as applied, keep every row through today's ``migrate``, and end up with the schema
that a new database gets from the one file.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.part_two import empty_database, manage, orm, part_two_database, schema

SQUASH = "0001_squashed_part_two"
READ_EVERYTHING = """
from django.contrib.auth.models import User
from authentication.models import Membership, Team
from monitoring.models import *

api = Server.objects.get(name="API")
result = {
    "users": list(User.objects.order_by("username").values_list("username", "is_staff")),
    "alice logs in": User.objects.get(username="alice").check_password("part-two-password-1"),
    "servers": list(Server.objects.order_by("name").values_list(
        "owner__username", "team__slug", "name", "protocol", "is_active")),
    # Part three (SPEC §17): every user gets a personal team, and everything of theirs goes into it.
    "teams": list(Team.objects.order_by("slug").values_list("slug", "personal_for__username")),
    "memberships": list(Membership.objects.order_by("team__slug").values_list("team__slug", "user__username", "role")),
    "api": [api.status, api.tags, api.request_headers, api.assertions, api.basic_auth_username,
            api.basic_auth_password, api.cert_expiry_alert_days, api.badge_key, api.degraded_threshold_ms],
    "api status": [api.server_status.status, api.server_status.uptime_percentage, api.server_status.total_checks],
    "push": list(Server.objects.filter(protocol="push").values_list("push_token", "grace_seconds")),
    "pings": list(PingResult.objects.order_by("id").values_list(
        "server__name", "status", "response_time", "status_code", "error_message", "maintenance", "check_timestamp")),
    "changes": list(StatusChange.objects.order_by("id").values_list("server__name", "previous_status", "status")),
    "incidents": list(Incident.objects.order_by("id").values_list(
        "server__name", "ended_at", "duration_seconds", "first_error", "closing_change__status")),
    # The e-mail config's secret was made at random when the dump was: its length stands for it.
    "configs": [[c.team.slug, [s.name for s in c.servers.all()], c.notification_type, c.recipient, c.enabled,
                 c.events, c.cooldown_minutes, c.secret if c.notification_type == "webhook" else len(c.secret)]
                for c in NotificationConfig.objects.order_by("id")],
    "deliveries": list(NotificationDelivery.objects.order_by("id").values_list(
        "config__notification_type", "event", "status", "dedupe_key", "certificate_check__fingerprint_sha256",
        "incident__first_error", "delivered_at")),
    "certificates": list(CertificateCheck.objects.values_list("subject", "days_remaining", "needs_renewal")),
    "rollups": list(HourlyRollup.objects.values_list("server__name", "checks", "failures", "response_time_p95")),
    "raw history from": RawHistoryHorizon.current(),
    "counters": list(MetricCounter.objects.values_list("key", "shard", "value")),
    "windows": [[w.team.slug, w.name, w.recurrence, w.weekdays, w.start_time, w.timezone, w.starts_at, w.enabled,
                 [s.name for s in w.servers.all()]] for w in MaintenanceWindow.objects.all()],
    "pages": [[p.slug, p.owner.username, p.team.slug, p.is_public, p.tags, [s.name for s in p.servers.order_by("name")]]
              for p in StatusPage.objects.all()],
}
"""


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A part-two database after today's ``migrate``, with what ``showmigrations`` said before it."""
    with part_two_database(tmp_path_factory.mktemp("part_two")) as url:
        before = manage(url, "showmigrations", "--plan")
        manage(url, "migrate", "--noinput")
        yield url, before


def squash_migration() -> type:
    return importlib.import_module(f"monitoring.migrations.{SQUASH}").Migration


def test_a_part_two_database_counts_the_squash_as_applied_before_it_migrates(upgraded: tuple[str, str]) -> None:
    url, before = upgraded
    assert f"[X]  monitoring.{SQUASH}" in before
    # What is left to apply came after part two: neither the squash nor anything it replaces.
    part_two = {f"monitoring.{SQUASH}"} | {f"monitoring.{name}" for _, name in squash_migration().replaces}
    assert not [line for line in before.splitlines() if "[ ]" in line and line.split()[-1] in part_two], before
    manage(url, "migrate", "--check")  # and after it (exits 1 when a migration is unapplied)


def test_migrate_keeps_every_row_of_a_part_two_database(upgraded: tuple[str, str]) -> None:
    url, _ = upgraded
    assert orm(url, READ_EVERYTHING) == {
        "users": [["alice", False], ["bob", True]],
        "alice logs in": True,
        "servers": [
            ["alice", "alice", "API", "https", True],
            ["alice", "alice", "Database", "tcp", True],
            ["bob", "bob", "Legacy", "http", False],
            ["alice", "alice", "Nightly backup", "push", True],
        ],
        "teams": [["alice", "alice"], ["bob", "bob"]],
        "memberships": [["alice", "alice", "owner"], ["bob", "bob", "owner"]],
        "api": [
            "down",
            ["prod", "api"],
            {"X-Probe": "pulseguard"},
            [{"source": "json:$.status", "op": "==", "value": "ok"}],
            "probe",
            "s3cret",
            [30, 7],
            "badge-key-of-the-api-server",
            800,
        ],
        "api status": ["down", 33.333, 3],
        "push": [["push-token-of-the-nightly-backup", 3600]],
        "pings": [
            ["API", "success", 123.5, 200, "", False, "2026-12-01 12:00:00+00:00"],
            ["API", "failure", 88.25, 503, "HTTP 503", False, "2026-12-01 12:00:30+00:00"],
            ["API", "timeout", None, None, "timed out after 5s", True, "2026-12-01 12:01:00+00:00"],
            ["Database", "success", 1.5, None, "", False, "2026-12-01 12:00:00+00:00"],
        ],
        "changes": [["API", "up", "down"], ["Database", "down", "up"], ["Database", "up", "down"]],
        "incidents": [
            ["API", None, None, "HTTP 503", None],
            ["Database", "2026-12-01 12:00:00+00:00", 3600, "connection refused", "up"],
        ],
        # Part three (SPEC §18): team configs, attached to the server each was of; the switches are events.
        "configs": [
            [
                "alice",
                ["API"],
                "webhook",
                "https://hooks.example.com/pulseguard",
                True,
                ["down", "recovery", "degraded", "certificate", "maintenance", "location", "test"],
                5,
                "webhook-signing-secret",
            ],
            [
                "alice",
                ["Database"],
                "email",
                "ops@example.com",
                False,
                ["down", "recovery", "certificate", "maintenance", "location", "test"],
                15,
                64,
            ],
        ],  # fmt: skip
        "deliveries": [
            ["webhook", "down", "sent", None, None, "HTTP 503", "2026-12-01 12:00:31+00:00"],
            # The server (API's id) joins the once-only key: a team config hears of several servers.
            ["webhook", "certificate_expiring", "pending", "1:expiring:30", "ab" * 32, None, None],
            ["email", "recovery", "suppressed", None, None, None, None],
        ],
        "certificates": [["CN=api.example.com", 20, True]],
        "rollups": [["API", 120, 3, 190.5]],
        "raw history from": "2026-11-24 12:00:00+00:00",
        "counters": [["checks_total", 0, 12345.0], ["checks_total", 1, 678.0]],
        "windows": [
            ["alice", "Migration", "", [], None, "UTC", "2026-12-02 12:00:00+00:00", False, []],
            ["alice", "Patch Tuesday", "weekly", [1], "02:00:00", "Europe/Berlin", None, True, ["Database"]],
        ],
        "pages": [
            ["acme", "alice", "alice", True, ["api"], ["API", "Database"]],
            ["internal", "bob", "bob", False, [], []],
        ],
    }


def test_a_new_database_has_the_schema_of_an_upgraded_part_two_database(
    upgraded: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = upgraded
    with empty_database(tmp_path, "new") as new:
        manage(new, "migrate", "--noinput")
        made, upgraded_to = schema(new), schema(url)
    differences = {
        part: {"new only": sorted(set(made[part]) - set(items)), "upgraded only": sorted(set(items) - set(made[part]))}
        for part, items in upgraded_to.items()
        if made[part] != items
    }
    assert made.keys() == upgraded_to.keys()
    assert not differences


@pytest.mark.django_db
def test_the_models_need_no_migration_that_is_not_written() -> None:
    # makemigrations --check exits 1 when a model differs from what the migrations make.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
