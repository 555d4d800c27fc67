"""The monitoring schema as parts one and two left it, in one migration.

It replaces the sixteen migrations of parts one and two (``replaces`` below; their files are
gone). A new database is made by this file alone. On a database made by part two's code,
which recorded all sixteen as applied, Django counts this one as applied too and ``migrate``
goes straight on to later migrations; a later migration that still names one of the sixteen
as its dependency is pointed at this one. A database that applied only some of them (a
checkout from the middle of part two) must first be migrated by part two's code (8396ba0).

Columns are in the order part two's migrations left them on PostgreSQL, so a new database and
an upgraded one have the same tables, indexes and constraints: monitoring/tests/test_migrations.py
compares the two on either database. (The one difference is a name: the unique constraint of
Server.badge_key, which Django names by how it was made.) Besides the models, two things
that no model states:

1. PingResult's primary key packs its b-tree pages full on PostgreSQL (fillfactor 100): its ids
   only ever grow, so the 10 % kept free for inserts in the middle would never be used.
2. The database cache's table (``pulseguard_cache``): the login throttle's counters, shared by
   every process. Created here, whatever CACHE_TYPE says now, so that ``migrate`` is all an
   installation needs; the same table as ``manage.py createcachetable`` makes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import migrations, models
from django.utils import timezone

from monitoring.models.fields import BrinOnPostgresIndex, RealField
from monitoring.models.notifications import default_cooldown, new_secret
from monitoring.models.servers import _now, default_cert_alert_days, new_badge_key
from monitoring.validators import (
    validate_alert_days,
    validate_assertions,
    validate_host,
    validate_request_body,
    validate_request_headers,
    validate_status_codes,
    validate_tags,
)

# Server.status, ServerStatus.status and both ends of a StatusChange.
STATUSES = [
    ("up", "Up"),
    ("down", "Down"),
    ("degraded", "Degraded"),
    ("unknown", "Unknown"),
    ("paused", "Paused"),
    ("maintenance", "Maintenance"),
]
HTTP_METHODS = [
    ("GET", "GET"),
    ("HEAD", "HEAD"),
    ("POST", "POST"),
    ("PUT", "PUT"),
    ("PATCH", "PATCH"),
    ("DELETE", "DELETE"),
    ("OPTIONS", "OPTIONS"),
]
CACHE_TABLE = "pulseguard_cache"


def pack_ping_result_primary_key(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER INDEX monitoring_pingresult_pkey SET (fillfactor = 100)")


def unpack_ping_result_primary_key(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER INDEX monitoring_pingresult_pkey RESET (fillfactor)")


def create_cache_table(apps: Any, schema_editor: Any) -> None:
    # create_table skips an existing table, so a createcachetable run earlier does no harm.
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


def drop_cache_table(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    initial = True

    replaces = [
        ("monitoring", "0001_initial"),
        ("monitoring", "0002_server_field_validators"),
        ("monitoring", "0003_certificatecheck"),
        ("monitoring", "0004_notification_deliveries_incidents"),
        ("monitoring", "0005_i7_leases"),
        ("monitoring", "0005_i8_history_storage"),
        ("monitoring", "0005_i9_cache_table"),
        ("monitoring", "0005_i10_http_requests_assertions"),
        ("monitoring", "0005_i11_status_pages_badges"),
        ("monitoring", "0006_i10_metric_counters"),
        ("monitoring", "0006_i10b_push_maintenance"),
        ("monitoring", "0007_i10_certificate_alerts"),
        ("monitoring", "0007_i7b_merge"),
        ("monitoring", "0008_merge_i8_i9_i10_i11"),
        ("monitoring", "0009_merge_i7"),
        ("monitoring", "0010_merge_i10b"),
    ]

    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.CreateModel(
            name="Server",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                (
                    "protocol",
                    models.CharField(
                        choices=[("http", "HTTP"), ("https", "HTTPS"), ("tcp", "TCP"), ("push", "Push (heartbeat)")],
                        default="https",
                        max_length=5,
                    ),
                ),
                (
                    "host",
                    models.CharField(
                        blank=True,
                        help_text="Hostname or IP address (not for push).",
                        max_length=253,
                        validators=[validate_host],
                    ),
                ),
                (
                    "port",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Defaults to 80 for http and 443 for https; required for tcp.",
                        null=True,
                        validators=[MinValueValidator(1), MaxValueValidator(65535)],
                    ),
                ),
                ("path", models.CharField(blank=True, default="/", max_length=2000)),
                (
                    "check_interval",
                    models.PositiveIntegerField(
                        default=60, validators=[MinValueValidator(10), MaxValueValidator(86400)]
                    ),
                ),
                ("timeout", models.FloatField(default=10, validators=[MinValueValidator(0.5), MaxValueValidator(300)])),
                ("status", models.CharField(choices=STATUSES, default="unknown", editable=False, max_length=12)),
                ("tags", models.JSONField(blank=True, default=list, validators=[validate_tags])),
                ("notifications", models.BooleanField(default=True, help_text="Send alerts for this server.")),
                ("method", models.CharField(choices=HTTP_METHODS, default="GET", max_length=7)),
                (
                    "expected_status_codes",
                    models.CharField(default="200-399", max_length=200, validators=[validate_status_codes]),
                ),
                ("keyword", models.CharField(blank=True, max_length=500)),
                ("verify_tls", models.BooleanField(default=True)),
                (
                    "retries",
                    models.PositiveSmallIntegerField(
                        default=1,
                        help_text="Consecutive failures that make it DOWN.",
                        validators=[MaxValueValidator(100)],
                    ),
                ),
                ("degraded_threshold_ms", models.PositiveIntegerField(blank=True, null=True)),
                ("is_active", models.BooleanField(default=True)),
                ("next_check_at", models.DateTimeField(default=_now, editable=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "owner",
                    models.ForeignKey(on_delete=models.CASCADE, related_name="servers", to=settings.AUTH_USER_MODEL),
                ),
                (
                    "assertions",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text='All must hold, e.g. [{"source": "json:$.status", "op": "==", "value": "ok"}].',
                        validators=[validate_assertions],
                    ),
                ),
                ("basic_auth_password", models.CharField(blank=True, max_length=200)),
                ("basic_auth_username", models.CharField(blank=True, max_length=200)),
                (
                    "cert_expiry_alert_days",
                    models.JSONField(blank=True, default=default_cert_alert_days, validators=[validate_alert_days]),
                ),
                (
                    "keyword_absent",
                    models.BooleanField(default=False, help_text="Fail when the keyword appears in the body."),
                ),
                (
                    "max_redirects",
                    models.PositiveSmallIntegerField(
                        default=10,
                        help_text="0 follows none: the 3xx itself is judged against the expected status codes.",
                        validators=[MaxValueValidator(20)],
                    ),
                ),
                (
                    "request_body",
                    models.TextField(
                        blank=True,
                        help_text="Sent with the method; at most 64 KiB.",
                        validators=[validate_request_body],
                    ),
                ),
                (
                    "request_headers",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="Header name → value, at most 50.",
                        validators=[validate_request_headers],
                    ),
                ),
                ("badge_key", models.CharField(default=new_badge_key, editable=False, max_length=40, unique=True)),
                ("lease_owner", models.CharField(blank=True, default="", editable=False, max_length=64)),
                ("lease_until", models.DateTimeField(blank=True, editable=False, null=True)),
                (
                    "grace_seconds",
                    models.PositiveIntegerField(
                        default=60,
                        help_text="Push monitors: seconds of silence allowed past the check interval.",
                        validators=[MaxValueValidator(86400)],
                    ),
                ),
                ("push_deadline_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("push_token", models.CharField(blank=True, editable=False, max_length=64, null=True, unique=True)),
            ],
            options={
                "ordering": ["name", "id"],
                "indexes": [
                    models.Index(fields=["is_active", "next_check_at"], name="server_due_idx"),
                    models.Index(fields=["owner", "name"], name="server_owner_name_idx"),
                    models.Index(
                        condition=models.Q(("push_deadline_at__isnull", False)),
                        fields=["push_deadline_at"],
                        name="server_push_deadline_idx",
                    ),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("check_interval__gte", 10), ("check_interval__lte", 86400)),
                        name="server_check_interval_range",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ServerStatus",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("status", models.CharField(choices=STATUSES, default="unknown", max_length=12)),
                ("uptime_percentage", models.FloatField(blank=True, null=True)),
                ("total_checks", models.PositiveIntegerField(default=0)),
                ("failed_checks", models.PositiveIntegerField(default=0)),
                ("last_check", models.DateTimeField(blank=True, null=True)),
                ("last_response_time", models.FloatField(blank=True, null=True)),
                ("consecutive_failures", models.PositiveIntegerField(default=0)),
                ("message", models.CharField(blank=True, max_length=500)),
                ("last_status_change", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True, db_index=True)),
                (
                    "server",
                    models.OneToOneField(
                        on_delete=models.CASCADE, related_name="server_status", to="monitoring.server"
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "server statuses",
                "ordering": ["server_id"],
            },
        ),
        migrations.CreateModel(
            name="PingResult",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("success", "Success"),
                            ("failure", "Failure"),
                            ("timeout", "Timeout"),
                            ("error", "Error"),
                        ],
                        max_length=8,
                    ),
                ),
                ("response_time", RealField(blank=True, help_text="Milliseconds.", null=True)),
                ("status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("error_message", models.TextField(blank=True)),
                ("check_timestamp", models.DateTimeField(default=timezone.now)),
                (
                    "server",
                    models.ForeignKey(
                        db_index=False, on_delete=models.CASCADE, related_name="ping_results", to="monitoring.server"
                    ),
                ),
                ("maintenance", models.BooleanField(default=False)),
            ],
            options={
                "ordering": ["-check_timestamp", "-id"],
                "indexes": [
                    models.Index(fields=["server", "-check_timestamp"], name="ping_server_time_idx"),
                    BrinOnPostgresIndex(fields=["check_timestamp"], name="ping_time_brin_idx"),
                ],
            },
        ),
        migrations.CreateModel(
            name="StatusChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("previous_status", models.CharField(choices=STATUSES, max_length=12)),
                ("status", models.CharField(choices=STATUSES, max_length=12)),
                ("message", models.CharField(blank=True, max_length=500)),
                ("changed_at", models.DateTimeField(default=_now)),
                (
                    "ping",
                    models.ForeignKey(blank=True, null=True, on_delete=models.SET_NULL, to="monitoring.pingresult"),
                ),
                (
                    "server",
                    models.ForeignKey(on_delete=models.CASCADE, related_name="status_changes", to="monitoring.server"),
                ),
            ],
            options={
                "ordering": ["-changed_at", "-id"],
                "indexes": [models.Index(fields=["server", "-changed_at"], name="statuschange_server_time_idx")],
            },
        ),
        migrations.CreateModel(
            name="NotificationConfig",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "notification_type",
                    models.CharField(
                        choices=[
                            ("email", "E-mail"),
                            ("webhook", "Webhook"),
                            ("sms", "SMS"),
                            ("discord", "Discord"),
                            ("slack", "Slack"),
                        ],
                        max_length=10,
                    ),
                ),
                ("recipient", models.CharField(max_length=500)),
                ("enabled", models.BooleanField(default=True)),
                ("notify_on_failure", models.BooleanField(default=True)),
                ("notify_on_recovery", models.BooleanField(default=True)),
                (
                    "cooldown_minutes",
                    models.PositiveIntegerField(default=default_cooldown, validators=[MaxValueValidator(10080)]),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "server",
                    models.ForeignKey(
                        on_delete=models.CASCADE, related_name="notification_configs", to="monitoring.server"
                    ),
                ),
                (
                    "notify_on_degraded",
                    models.BooleanField(default=False, help_text="Also alert when an UP server turns slow."),
                ),
                ("secret", models.CharField(blank=True, default=new_secret, max_length=128)),
            ],
            options={
                "ordering": ["server_id", "id"],
            },
        ),
        migrations.CreateModel(
            name="CertificateCheck",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("checked_at", models.DateTimeField(default=timezone.now)),
                ("valid", models.BooleanField(default=False, help_text="The chain and the hostname verified.")),
                (
                    "expires_at",
                    models.DateTimeField(blank=True, help_text="The certificate's not-after time.", null=True),
                ),
                ("days_remaining", models.IntegerField(blank=True, null=True)),
                ("issuer", models.CharField(blank=True, max_length=500)),
                ("subject", models.CharField(blank=True, max_length=500)),
                (
                    "needs_renewal",
                    models.BooleanField(default=False, help_text="Expires within CERT_RENEWAL_DAYS days."),
                ),
                (
                    "error",
                    models.TextField(
                        blank=True, help_text="Why the handshake failed or the certificate did not verify."
                    ),
                ),
                ("in_progress", models.BooleanField(default=False, editable=False)),
                (
                    "server",
                    models.ForeignKey(
                        on_delete=models.CASCADE, related_name="certificate_checks", to="monitoring.server"
                    ),
                ),
                ("fingerprint_sha256", models.CharField(blank=True, max_length=64)),
            ],
            options={
                "ordering": ["-checked_at", "-id"],
                "indexes": [models.Index(fields=["server", "-checked_at"], name="certcheck_server_time_idx")],
            },
        ),
        migrations.CreateModel(
            name="Incident",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("started_at", models.DateTimeField()),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                ("first_error", models.CharField(blank=True, max_length=500)),
                (
                    "duration_seconds",
                    models.PositiveIntegerField(blank=True, help_text="Set when it closes.", null=True),
                ),
                (
                    "closing_change",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=models.SET_NULL,
                        related_name="closed_incident",
                        to="monitoring.statuschange",
                    ),
                ),
                (
                    "opening_change",
                    models.OneToOneField(
                        on_delete=models.CASCADE, related_name="opened_incident", to="monitoring.statuschange"
                    ),
                ),
                (
                    "server",
                    models.ForeignKey(on_delete=models.CASCADE, related_name="incidents", to="monitoring.server"),
                ),
            ],
            options={
                "ordering": ["-started_at", "-id"],
                "indexes": [models.Index(fields=["server", "-started_at"], name="incident_server_time_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("ended_at__isnull", True)),
                        fields=("server",),
                        name="incident_one_open_per_server",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="NotificationDelivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "event",
                    models.CharField(
                        choices=[
                            ("down", "Down"),
                            ("recovery", "Recovery"),
                            ("degraded", "Degraded"),
                            ("test", "Test"),
                            ("certificate_expiring", "Certificate expiring"),
                            ("certificate_invalid", "Certificate invalid"),
                        ],
                        max_length=24,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("deferred", "Deferred"),
                            ("sent", "Sent"),
                            ("failed", "Failed"),
                            ("suppressed", "Suppressed"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(default=timezone.now)),
                ("claimed_until", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True)),
                ("delivered_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(default=timezone.now)),
                (
                    "change",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=models.CASCADE,
                        related_name="deliveries",
                        to="monitoring.statuschange",
                    ),
                ),
                (
                    "config",
                    models.ForeignKey(
                        on_delete=models.CASCADE, related_name="deliveries", to="monitoring.notificationconfig"
                    ),
                ),
                (
                    "incident",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=models.SET_NULL,
                        related_name="deliveries",
                        to="monitoring.incident",
                    ),
                ),
                (
                    "certificate_check",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=models.CASCADE,
                        related_name="deliveries",
                        to="monitoring.certificatecheck",
                    ),
                ),
                ("dedupe_key", models.CharField(blank=True, editable=False, max_length=120, null=True)),
            ],
            options={
                "verbose_name_plural": "notification deliveries",
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("status__in", ["pending", "deferred"])),
                        fields=["next_attempt_at"],
                        name="delivery_due_idx",
                    ),
                    models.Index(fields=["config", "event", "-created_at"], name="delivery_config_event_idx"),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("change", "config"), name="delivery_one_per_change_config"),
                    models.UniqueConstraint(
                        condition=models.Q(("dedupe_key__isnull", False)),
                        fields=("config", "dedupe_key"),
                        name="delivery_once_per_config_key",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="HourlyRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("hour", models.DateTimeField(help_text="Start of the UTC hour.")),
                ("checks", models.PositiveIntegerField(default=0)),
                ("failures", models.PositiveIntegerField(default=0)),
                ("maintenance", models.PositiveIntegerField(default=0)),
                ("timed", models.PositiveIntegerField(default=0)),
                ("response_time_min", RealField(blank=True, null=True)),
                ("response_time_avg", RealField(blank=True, null=True)),
                ("response_time_p50", RealField(blank=True, null=True)),
                ("response_time_p95", RealField(blank=True, null=True)),
                ("response_time_max", RealField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "server",
                    models.ForeignKey(
                        db_index=False, on_delete=models.CASCADE, related_name="rollups", to="monitoring.server"
                    ),
                ),
            ],
            options={
                "ordering": ["server", "hour"],
                "constraints": [models.UniqueConstraint(fields=("server", "hour"), name="rollup_server_hour_uniq")],
            },
        ),
        migrations.CreateModel(
            name="RawHistoryHorizon",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("raw_from", models.DateTimeField()),
            ],
            options={
                "ordering": ["pk"],
            },
        ),
        migrations.CreateModel(
            name="MetricCounter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=60)),
                ("shard", models.PositiveSmallIntegerField(default=0)),
                ("value", models.FloatField(default=0)),
            ],
            options={
                "ordering": ["key", "shard"],
                "constraints": [models.UniqueConstraint(fields=("key", "shard"), name="metriccounter_key_shard")],
            },
        ),
        migrations.CreateModel(
            name="MaintenanceWindow",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                ("tags", models.JSONField(blank=True, default=list)),
                ("enabled", models.BooleanField(default=True)),
                ("starts_at", models.DateTimeField(blank=True, null=True)),
                ("ends_at", models.DateTimeField(blank=True, null=True)),
                (
                    "recurrence",
                    models.CharField(blank=True, choices=[("daily", "Daily"), ("weekly", "Weekly")], max_length=6),
                ),
                ("weekdays", models.JSONField(blank=True, default=list, help_text="Weekly: 0 = Monday … 6 = Sunday.")),
                (
                    "start_time",
                    models.TimeField(blank=True, help_text="Recurring: local start time, HH:MM.", null=True),
                ),
                (
                    "duration_minutes",
                    models.PositiveIntegerField(
                        blank=True, null=True, validators=[MinValueValidator(1), MaxValueValidator(10080)]
                    ),
                ),
                ("timezone", models.CharField(default="UTC", max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=models.CASCADE, related_name="maintenance_windows", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "servers",
                    models.ManyToManyField(blank=True, related_name="maintenance_windows", to="monitoring.server"),
                ),
            ],
            options={
                "ordering": ["name", "id"],
                "indexes": [models.Index(fields=["owner", "enabled"], name="maintenance_owner_idx")],
            },
        ),
        migrations.CreateModel(
            name="StatusPage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "slug",
                    models.CharField(
                        max_length=60,
                        unique=True,
                        validators=[
                            RegexValidator("^[a-z0-9-]{1,60}$", "Use 1–60 lower-case letters, digits and hyphens.")
                        ],
                    ),
                ),
                ("title", models.CharField(max_length=200)),
                ("description", models.TextField(blank=True, max_length=5000)),
                ("tags", models.JSONField(blank=True, default=list, validators=[validate_tags])),
                ("is_public", models.BooleanField(default=False)),
                ("show_response_times", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=models.CASCADE, related_name="status_pages", to=settings.AUTH_USER_MODEL
                    ),
                ),
                ("servers", models.ManyToManyField(blank=True, related_name="status_pages", to="monitoring.server")),
            ],
            options={
                "ordering": ["slug"],
            },
        ),
        migrations.RunPython(pack_ping_result_primary_key, unpack_ping_result_primary_key),
        migrations.RunPython(create_cache_table, drop_cache_table),
    ]
