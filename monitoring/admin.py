"""The operators' admin: every model, with filters, search and check/pause/resume actions.

The team objects' admins (servers, notification configs, status pages, maintenance windows)
write an audit row for each create, change, delete and action, with the admin user as actor
(``authentication.audit_admin.AuditedAdminMixin``)."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from authentication.audit_admin import AuditedAdminMixin
from monitoring.choices import DeliveryStatus
from monitoring.models import (
    AgentToken,
    CertificateCheck,
    EscalationPolicy,
    HourlyRollup,
    Incident,
    MaintenanceWindow,
    NotificationConfig,
    NotificationDelivery,
    PingResult,
    ProbeLocation,
    Server,
    ServerLocation,
    ServerStatus,
    StatusChange,
    StatusPage,
)
from monitoring.models.servers import dependency_cycle
from monitoring.services.engine import checks
from monitoring.services.engine.certificates import checks_certificate
from monitoring.services.engine.recording import CheckRecord
from monitoring.tasks import engine
from monitoring.validators import PROTOCOL_FIELDS


class TagListField(forms.CharField):
    """Tags as one comma-separated line instead of a raw JSON textarea."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = (super().to_python(value) or "").strip()
        if text.startswith("["):  # a JSON list, as the old textarea took
            with contextlib.suppress(ValueError):
                parsed = json.loads(text)
                if isinstance(parsed, list):
                    return list(dict.fromkeys(str(t).strip() for t in parsed if str(t).strip()))
        return list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


class ServerAdminForm(forms.ModelForm):
    """The basic-auth password and the dsn are write-only here too: never rendered, kept when left blank."""

    basic_auth_password = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the current password.",
    )
    clear_basic_auth_password = forms.BooleanField(required=False, label="Clear the basic-auth password")
    dsn = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False),
        label="DSN",
        help_text="PostgreSQL, MySQL, Redis: a URL with credentials; host and port are taken from it. "
        "Leave blank to keep the current one.",
    )
    tags = TagListField(required=False, help_text="Comma-separated, e.g. prod, eu-west.")
    schedule_timezone = forms.CharField(
        required=False,
        max_length=64,
        initial="UTC",
        help_text="Push monitors on a schedule: its time zone (UTC if empty).",
    )

    class Meta:
        model = Server
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose the fields shown

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The fields of one kind of check: left out (a form made before they existed, a script),
        # they keep their defaults.
        for name in PROTOCOL_FIELDS:
            if name in self.fields:
                self.fields[name].required = False
        if "depends_on" in self.fields and self.instance.pk:  # a server cannot depend on itself
            field = self.fields["depends_on"]
            field.queryset = field.queryset.exclude(pk=self.instance.pk)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name, (default, _) in PROTOCOL_FIELDS.items():
            if name in data and data[name] in (None, "") and default not in (None, ""):
                data[name] = copy.deepcopy(default)
                setattr(self.instance, name, data[name])
        # An emptied JSON box means "none", not NULL.
        for name, empty in (("request_headers", {}), ("assertions", []), ("cert_expiry_alert_days", [])):
            if name in data and data[name] is None:
                data[name] = empty
                setattr(self.instance, name, empty)
        # Left out (a form made before cron schedules, or a script), the time zone is UTC.
        if not data.get("schedule_timezone"):
            data["schedule_timezone"] = "UTC"
        dependencies = data.get("depends_on")
        team = data.get("team") or getattr(self.instance, "team", None)
        if dependencies and team is not None:
            if any(d.team_id != team.pk for d in dependencies):
                self.add_error("depends_on", "Pick servers of the same team.")
            else:
                cycle = dependency_cycle(self.instance, team.pk, [d.pk for d in dependencies])
                if cycle:
                    self.add_error("depends_on", cycle)
        if data.get("clear_basic_auth_password"):
            data["basic_auth_password"] = ""
        elif not data.get("basic_auth_password") and self.instance.pk:
            data["basic_auth_password"] = self.instance.basic_auth_password
        self.instance.basic_auth_password = data.get("basic_auth_password", "")
        if not data.get("dsn") and self.instance.pk:
            data["dsn"] = self.instance.dsn
        self.instance.dsn = data.get("dsn", "")
        return data


class NotificationConfigForm(forms.ModelForm):
    """The secret is write-only here too: never shown, kept when left empty (SPEC §18 credentials).

    An empty box on a new config means "none": a webhook then gets a generated signing key,
    and a type that needs a token is refused by the model's clean() naming ``secret``.
    """

    secret = forms.CharField(
        required=False,
        max_length=128,
        widget=forms.PasswordInput(render_value=False),
        help_text="Signing key or the service's token; leave empty to keep the current one.",
    )

    class Meta:
        model = NotificationConfig
        fields = [
            "team",
            "servers",
            "notification_type",
            "recipient",
            "secret",
            "api_base_url",
            "title_template",
            "body_template",
            "enabled",
            "is_default",
            "events",
            "cooldown_minutes",
        ]

    def clean_secret(self) -> str:
        return self.cleaned_data.get("secret") or (self.instance.secret if self.instance.pk else "")


class NotificationConfigInline(admin.TabularInline):
    """The team configs this server's alerts go to (SPEC §18: a config serves many servers)."""

    model = NotificationConfig.servers.through
    extra = 0
    verbose_name = "notification config"
    verbose_name_plural = "notification configs"


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["changed_at", "previous_status", "status", "message"]
    readonly_fields = fields
    ordering = ["-changed_at"]


class ServerLocationInline(admin.TabularInline):
    """Where it is checked from (SPEC §20), in ``position`` order; none: the scheduler's own location."""

    model = ServerLocation
    extra = 0
    fields = ["location", "position", "status", "last_check", "last_response_time", "next_check_at"]
    readonly_fields = ["status", "last_check", "last_response_time", "next_check_at"]
    ordering = ["position"]


@admin.register(Server)
class ServerAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = ServerAdminForm
    list_display = ["name", "url", "status", "protocol", "check_interval", "is_active", "team", "owner", "last_check"]
    list_filter = ["status", "protocol", "is_active", "notifications", "keyword_absent", "method", "team"]
    search_fields = ["name", "host", "path"]
    list_select_related = ["team", "owner", "server_status"]
    readonly_fields = [
        "status",
        "next_check_at",
        "badge_key",
        "push_token",
        "push_deadline_at",
        "push_started_at",
        "created_at",
        "updated_at",
        "latest_certificate",
    ]
    inlines = [ServerLocationInline, NotificationConfigInline, StatusChangeInline]
    filter_horizontal = ["depends_on"]
    actions = ["check_now", "pause", "resume", "check_certificate_now"]
    fieldsets = [
        (
            None,
            {"fields": ["name", "team", "owner", "protocol", "host", "port", "path", "tags", "is_active", "status"]},
        ),
        ("Schedule", {"fields": ["check_interval", "timeout", "retries", "degraded_threshold_ms", "next_check_at"]}),
        (
            "HTTP",
            {
                "fields": ["method", "expected_status_codes", "keyword", "keyword_absent", "verify_tls"],
                # admin-server.js hides this fieldset unless the protocol is http or https.
                "classes": ["http-options"],
                "description": "HTTP and HTTPS servers only; ignored for TCP.",
            },
        ),
        (
            "HTTP request and assertions",
            {
                "fields": [
                    "request_headers",
                    "request_body",
                    "basic_auth_username",
                    "basic_auth_password",
                    "clear_basic_auth_password",
                    "max_redirects",
                    "assertions",
                ],
                "classes": ["http-options"],
            },
        ),
        (
            "Push monitor",
            {
                "fields": [
                    "grace_seconds",
                    "schedule",
                    "schedule_timezone",
                    "push_token",
                    "push_deadline_at",
                    "push_started_at",
                ],
                "classes": ["push-options"],
            },
        ),
        (
            "Other kinds of checks",
            {
                "fields": [
                    "ping_count",
                    "packet_loss_threshold",
                    "dns_record_type",
                    "dns_resolver",
                    "dns_expected",
                    "smtp_starttls",
                    "dsn",
                    "db_query",
                    "grpc_service",
                    "grpc_tls",
                    "ws_send",
                    "ws_tls",
                    "tcp_send",
                    "tcp_expect",
                ],
                # admin-server.js shows each field only for the kinds that use it.
                "classes": ["kind-options"],
                "description": "Each field applies to one kind of check; leave the others at their defaults.",
            },
        ),
        (
            "Locations",
            {
                "fields": ["quorum"],
                "description": "DOWN once this many of its locations (below) are DOWN; empty: more than half.",
            },
        ),
        ("Alerts", {"fields": ["notifications", "cert_expiry_alert_days", "depends_on"]}),
        ("Badges", {"fields": ["badge_key"], "description": "Served only while a public status page shows it."}),
        ("Certificate", {"fields": ["latest_certificate"]}),
        ("Times", {"fields": ["created_at", "updated_at"]}),
    ]

    class Media:
        js = ["pulseguard/admin-server.js"]

    @admin.display(description="Last check")
    def last_check(self, obj: Server) -> object:
        return obj.server_status.last_check

    def save_model(self, request: HttpRequest, obj: Server, form: forms.ModelForm, change: bool) -> None:
        """An edit goes through ``checks.save_edit``: unticking "is active" pauses the server (a
        status change, a live event) and an edit of what or how often it checks is checked at once."""
        if change:
            checks.save_edit(obj, form.changed_data)
        else:
            obj.save()

    def delete_model(self, request: HttpRequest, obj: Server) -> None:
        checks.delete_servers(Server.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        checks.delete_servers(queryset)

    @admin.action(description="Check now")
    def check_now(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        """Check the selected servers at once, concurrently, on the check engine."""
        probed = []
        for server in queryset.order_by("id"):
            if server.is_push:
                self.message_user(request, f"{server.name}: {checks.NOT_PROBED}", messages.WARNING)
            else:
                probed.append(server)

        def done(server: Server, record: CheckRecord | None, error: str) -> None:
            if record is None or record.ping is None:
                self.message_user(request, f"{server.name}: {error}", messages.WARNING)
                return
            level = messages.SUCCESS if not record.ping.failed else messages.WARNING
            detail = record.ping.error_message or f"{record.ping.response_time} ms"
            self.message_user(request, f"{server.name}: {record.state.status} ({detail})", level)

        engine.run_once(probed, on_done=done)
        self.audit_each(request, "check", probed)

    @admin.action(description="Pause checking")
    def pause(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        for server in queryset:
            with transaction.atomic():
                checks.pause(server)
                self.audit_each(request, "pause", [server])
        self.message_user(request, f"Paused {queryset.count()} server(s).")

    @admin.action(description="Resume checking")
    def resume(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        for server in queryset:
            with transaction.atomic():
                checks.resume(server)
                self.audit_each(request, "resume", [server])
        self.message_user(request, f"Resumed {queryset.count()} server(s).")

    @admin.display(description="Latest certificate check")
    def latest_certificate(self, obj: Server) -> str:
        check = CertificateCheck.objects.latest_for(obj) if obj.pk else None
        if check is None:
            return "none yet"
        verdict = "valid" if check.valid else f"invalid ({check.error})"
        expiry = f"expires {check.expires_at:%Y-%m-%d}, {check.days_remaining} day(s) left" if check.expires_at else ""
        renew = "needs renewal" if check.needs_renewal else ""
        return "; ".join(
            p for p in (verdict, expiry, check.issuer, renew, f"checked {check.checked_at:%Y-%m-%d %H:%M}") if p
        )

    @admin.action(description="Check TLS certificate now")
    def check_certificate_now(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        jobs = []
        for server in queryset.order_by("id"):
            if checks_certificate(server):
                jobs.append((server, None))
            else:
                self.message_user(request, f"{server.name}: not https, no certificate to check", messages.WARNING)

        def done(server: Server, check: CertificateCheck | None, error: str) -> None:
            if check is None:
                self.message_user(request, f"{server.name}: {error}", messages.WARNING)
                return
            level = messages.SUCCESS if check.valid and not check.needs_renewal else messages.WARNING
            days = f"{check.days_remaining} day(s) left" if check.days_remaining is not None else ""
            detail = "; ".join(p for p in (check.error, days) if p)
            self.message_user(request, f"{server.name}: {'valid' if check.valid else 'invalid'} ({detail})", level)

        engine.run_certificate_checks(jobs, on_done=done)
        self.audit_each(request, "check", [server for server, _ in jobs])


@admin.register(PingResult)
class PingResultAdmin(admin.ModelAdmin):
    list_display = [
        "server",
        "status",
        "response_time",
        "status_code",
        "check_timestamp",
        "maintenance",
        "kind",
        "error_message",
    ]
    list_filter = ["status", "kind", "maintenance", "check_timestamp"]
    search_fields = ["server__name", "error_message"]
    list_select_related = ["server"]
    date_hierarchy = "check_timestamp"
    readonly_fields = [
        "server",
        "status",
        "response_time",
        "status_code",
        "error_message",
        "check_timestamp",
        "maintenance",
        "kind",
        "body",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(HourlyRollup)
class HourlyRollupAdmin(admin.ModelAdmin):
    """Read only: rollups are recomputed from the raw rows, an edit would be overwritten."""

    list_display = ["server", "hour", "checks", "failures", "maintenance", "response_time_avg", "response_time_p95"]
    list_select_related = ["server"]
    search_fields = ["server__name"]
    date_hierarchy = "hour"
    readonly_fields = [f.name for f in HourlyRollup._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ServerStatus)
class ServerStatusAdmin(admin.ModelAdmin):
    list_display = ["server", "status", "uptime_percentage", "last_check", "consecutive_failures", "message"]
    list_filter = ["status"]
    search_fields = ["server__name", "message"]
    list_select_related = ["server"]
    readonly_fields = [f.name for f in ServerStatus._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(StatusChange)
class StatusChangeAdmin(admin.ModelAdmin):
    list_display = ["server", "previous_status", "status", "changed_at", "message"]
    list_filter = ["status", "previous_status", "changed_at"]
    search_fields = ["server__name", "message"]
    list_select_related = ["server"]
    readonly_fields = ["server", "previous_status", "status", "message", "changed_at", "ping"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(NotificationConfig)
class NotificationConfigAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = NotificationConfigForm
    list_display = ["team", "notification_type", "recipient", "enabled", "is_default", "events", "cooldown_minutes"]
    list_filter = ["notification_type", "enabled", "is_default", "team"]
    search_fields = ["servers__name", "recipient"]
    list_select_related = ["team"]
    filter_horizontal = ["servers"]


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "server", "config", "event", "status", "attempts", "delivered_at", "last_error"]
    list_filter = ["status", "event", "config__notification_type", "created_at"]
    search_fields = ["change__server__name", "config__recipient", "last_error"]
    list_select_related = ["config", "change__server", "certificate_check__server"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in NotificationDelivery._meta.fields]
    actions = ["retry_now"]

    @admin.display(description="Server", ordering="change__server__name")
    def server(self, obj: NotificationDelivery) -> object:
        return obj.server

    @admin.action(description="Retry now (a fresh budget of attempts)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[NotificationDelivery]) -> None:
        # Only rows no sender holds: a claimed one is being sent right now.
        now = timezone.now()
        retried = (
            queryset.filter(status__in=[DeliveryStatus.FAILED, DeliveryStatus.PENDING])
            .exclude(claimed_until__gte=now)
            .update(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, claimed_until=None)
        )
        self.message_user(request, f"Queued {retried} notification(s) for sending.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["server", "started_at", "ended_at", "duration_seconds", "acknowledged_at", "first_error"]
    list_filter = [
        ("ended_at", admin.EmptyFieldListFilter),
        ("acknowledged_at", admin.EmptyFieldListFilter),
        "started_at",
    ]
    search_fields = ["server__name", "first_error"]
    list_select_related = ["server"]
    date_hierarchy = "started_at"
    readonly_fields = [f.name for f in Incident._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "team", "owner", "repeat_every_minutes", "created_at"]
    list_filter = ["team"]
    search_fields = ["name"]
    list_select_related = ["team", "owner"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(CertificateCheck)
class CertificateCheckAdmin(admin.ModelAdmin):
    list_display = ["server", "valid", "expires_at", "days_remaining", "needs_renewal", "issuer", "checked_at", "error"]
    # Certificate alerts key on the fingerprint; searching it finds every check of one certificate.
    list_filter = ["valid", "needs_renewal", "in_progress", "checked_at"]
    search_fields = ["server__name", "issuer", "subject", "fingerprint_sha256"]
    list_select_related = ["server"]
    date_hierarchy = "checked_at"
    readonly_fields = [f.name for f in CertificateCheck._meta.fields if f.name != "id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(StatusPage)
class StatusPageAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["slug", "title", "team", "owner", "is_public", "show_response_times", "updated_at"]
    list_filter = ["is_public", "team"]
    search_fields = ["slug", "title"]
    list_select_related = ["team", "owner"]
    filter_horizontal = ["servers"]


class ActiveWindowFilter(admin.SimpleListFilter):
    """Active now: recurrences are judged in Python (time zones), as the API's ``active`` filter does."""

    title = "active now"
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[MaintenanceWindow]) -> QuerySet[MaintenanceWindow]:
        if self.value() not in ("yes", "no"):
            return queryset
        now = timezone.now()
        ids = [w.pk for w in queryset if w.is_active_at(now) == (self.value() == "yes")]
        return queryset.filter(pk__in=ids)


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "team", "owner", "enabled", "recurrence", "schedule", "timezone", "active", "next_start"]
    list_filter = [ActiveWindowFilter, "enabled", "recurrence", "timezone", "team"]
    search_fields = ["name"]
    list_select_related = ["team", "owner"]
    filter_horizontal = ["servers"]
    readonly_fields = ["active", "next_start", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "team", "owner", "enabled", "servers", "tags"]}),
        ("One-off", {"fields": ["starts_at", "ends_at"]}),
        ("Recurring", {"fields": ["recurrence", "weekdays", "start_time", "duration_minutes", "timezone"]}),
        ("Now", {"fields": ["active", "next_start", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Schedule")
    def schedule(self, obj: MaintenanceWindow) -> str:
        if not obj.recurrence:
            return f"{obj.starts_at:%Y-%m-%d %H:%M} → {obj.ends_at:%Y-%m-%d %H:%M}" if obj.starts_at else ""
        days = f" on {','.join(map(str, obj.weekdays))}" if obj.recurrence == "weekly" else ""
        return f"{obj.recurrence}{days} at {obj.start_time:%H:%M} for {obj.duration_minutes} min"

    @admin.display(boolean=True, description="Active now")
    def active(self, obj: MaintenanceWindow) -> bool:
        return obj.is_active_at(timezone.now())

    @admin.display(description="Next start")
    def next_start(self, obj: MaintenanceWindow) -> object:
        return obj.next_start(timezone.now())


class AgentTokenInline(admin.TabularInline):
    """A location's agent tokens (made in the web UI or the API, where the token is shown once);
    deleting one here revokes it."""

    model = AgentToken
    extra = 0
    max_num = 0
    fields = ["name", "prefix", "created_by", "created_at", "last_used_at"]
    readonly_fields = fields


@admin.register(ProbeLocation)
class ProbeLocationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Probe locations (SPEC §20): no team means shared by every team."""

    list_display = ["name", "slug", "team", "status", "last_seen_at"]
    list_filter = ["status", "team"]
    search_fields = ["name", "slug"]
    list_select_related = ["team"]
    readonly_fields = ["status", "status_changed_at", "last_seen_at", "created_by", "created_at"]
    fields = ["name", "slug", "description", "team", *readonly_fields]
    inlines = [AgentTokenInline]
