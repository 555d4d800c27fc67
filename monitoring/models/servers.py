"""Servers (monitored targets), their current status, and every change of that status."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models, transaction
from django.db.models import Count, Min, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from monitoring.choices import DnsRecordType, HttpMethod, Protocol, Status
from monitoring.models.base import OwnedQuerySet, TeamOwned
from monitoring.validators import (
    DEFAULT_CERT_ALERT_DAYS,
    DSN_DEFAULT_PORTS,
    DSN_PROTOCOLS,
    MAX_PING_COUNT,
    MIN_PING_COUNT,
    PROTOCOL_FIELDS,
    parse_dsn,
    protocol_field_errors,
    server_errors,
    validate_alert_days,
    validate_assertions,
    validate_basic_auth_username,
    validate_cron,
    validate_dns_expected,
    validate_dns_resolver,
    validate_host,
    validate_request_body,
    validate_request_headers,
    validate_status_codes,
    validate_tags,
    validate_tcp_text,
    validate_time_zone,
)

MIN_INTERVAL = 10
MAX_INTERVAL = 86_400
DEFAULT_PORTS = {Protocol.HTTP: 80, Protocol.HTTPS: 443, Protocol.SMTP: 25, **DSN_DEFAULT_PORTS}
GOLDEN = 0.6180339887498949
# Written only by the scheduler's claims (tasks.claims) and ``services.engine.recording.record`` (checks,
# pushes, pause, resume, edits that reschedule), never by a save() of an edit: a stale copy
# would drop a running check's lease, move a due time the scheduler just set, or flip
# ``is_active`` without the status change, the alerts and the live event that go with it.
SCHEDULER_FIELDS = frozenset(
    {
        "next_check_at",
        "spread_seconds",
        "lease_owner",
        "lease_until",
        "push_deadline_at",
        "push_started_at",
        "is_active",
        "status",
        "held_by_dependency",
    }
)
# An edit of one of these is checked at once (SPEC §23), and a push monitor's deadline recounted.
RESCHEDULING_FIELDS = frozenset(
    {
        "protocol",
        "host",
        "port",
        "path",
        "timeout",
        "check_interval",
        "grace_seconds",
        "schedule",
        "schedule_timezone",
        "is_active",
        "locations",  # ServerLocation rows, written by services.locations.servers
    }
)


class ServerQuerySet(OwnedQuerySet):
    def active(self) -> ServerQuerySet:
        return self.filter(is_active=True)

    def checked_here(self) -> ServerQuerySet:
        """Servers checked from the scheduler's own location (SPEC §20): those with no locations
        set, and those whose locations include it (``models.locations``)."""
        here = Q(location_states__location__slug=settings.PROBE_LOCATION) | Q(location_states__isnull=True)
        return self.filter(pk__in=self.model.objects.filter(here).values("pk"))

    def due(self, now: datetime) -> ServerQuerySet:
        """Active servers whose next check time has come (served by index server_due_idx).

        Push servers are never probed: their silence is ``push_overdue`` instead."""
        return self.filter(is_active=True, next_check_at__lte=now).exclude(protocol=Protocol.PUSH)

    def picked(self, server_ids: Iterable[int], tags: Iterable[str]) -> ServerQuerySet:
        """Servers in ``server_ids`` or carrying any of ``tags``: how status pages, maintenance
        windows and the ``?tag=`` filter pick servers (``picks`` is the same rule for one server)."""
        tags = list(tags)
        match = Q(pk__in=list(server_ids))
        if connection.vendor == "postgresql":
            for tag in tags:
                match |= Q(tags__contains=[tag])
            return self.filter(match)
        # SQLite has no JSON containment; tags are plain tokens, so a quoted match is exact.
        for tag in tags:
            match |= Q(tags_text__contains=json.dumps(tag))
        return self.annotate(tags_text=Cast("tags", TextField())).filter(match) if tags else self.filter(match)

    def push_overdue(self, now: datetime) -> ServerQuerySet:
        """Active push servers whose push deadline has passed (served by server_push_deadline_idx)."""
        return self.filter(is_active=True, protocol=Protocol.PUSH, push_deadline_at__lte=now)


def picks(server_id: int, server_tags: Iterable[str], server_ids: Iterable[int], tags: Iterable[str]) -> bool:
    """Whether a page or window that lists ``server_ids`` and ``tags`` reaches one server
    (``ServerQuerySet.picked`` is the same rule in SQL)."""
    return server_id in set(server_ids) or bool(set(tags) & set(server_tags))


def default_cert_alert_days() -> list[int]:
    return list(DEFAULT_CERT_ALERT_DAYS)


def _now() -> datetime:
    return timezone.now()


def new_badge_key() -> str:
    """An unguessable key for the server's public badges (/badge/<key>/…)."""
    return secrets.token_urlsafe(24)


MAX_GRACE = 86_400


def new_push_token() -> str:
    """An unguessable URL-safe token for a push URL (43 characters)."""
    return secrets.token_urlsafe(32)


class Server(TeamOwned):
    """A monitored target: an HTTP(S) URL or a TCP host and port, checked every ``check_interval``."""

    #: Who created it (kept when they leave the team; null once their account is deleted).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="servers"
    )
    name = models.CharField(max_length=200)
    protocol = models.CharField(max_length=10, choices=Protocol.choices, default=Protocol.HTTPS)
    host = models.CharField(
        max_length=253, blank=True, validators=[validate_host], help_text="Hostname or IP address (not for push)."
    )
    port = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text="Defaults to 80 for http and 443 for https; required for tcp.",
    )
    path = models.CharField(max_length=2000, blank=True, default="/")
    check_interval = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(MIN_INTERVAL), MaxValueValidator(MAX_INTERVAL)]
    )
    timeout = models.FloatField(default=10, validators=[MinValueValidator(0.5), MaxValueValidator(300)])
    # Mirror of ServerStatus.status for list filters; both change in one transaction.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNKNOWN, editable=False)
    tags = models.JSONField(default=list, blank=True, validators=[validate_tags])
    notifications = models.BooleanField(default=True, help_text="Send alerts for this server.")
    # With a policy, DOWN, reminders and recovery go through its steps only (SPEC §18).
    escalation_policy = models.ForeignKey(
        "monitoring.EscalationPolicy",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="servers",
        help_text="Who hears of an outage, in what order; empty: the server's notification configs.",
    )
    method = models.CharField(max_length=7, choices=HttpMethod.choices, default=HttpMethod.GET)
    expected_status_codes = models.CharField(max_length=200, default="200-399", validators=[validate_status_codes])
    keyword = models.CharField(max_length=500, blank=True)
    verify_tls = models.BooleanField(default=True)
    retries = models.PositiveSmallIntegerField(
        default=1, validators=[MaxValueValidator(100)], help_text="Consecutive failures that make it DOWN."
    )
    degraded_threshold_ms = models.PositiveIntegerField(null=True, blank=True)
    # HTTP requests and assertions (SPEC §10); HTTP-only: refused off their defaults on tcp.
    request_headers = models.JSONField(
        default=dict, blank=True, validators=[validate_request_headers], help_text="Header name → value, at most 50."
    )
    request_body = models.TextField(
        blank=True, validators=[validate_request_body], help_text="Sent with the method; at most 64 KiB."
    )
    basic_auth_username = models.CharField(max_length=200, blank=True, validators=[validate_basic_auth_username])
    # Sent with every check, so kept as given; never shown by the API or the admin.
    basic_auth_password = models.CharField(max_length=200, blank=True)
    keyword_absent = models.BooleanField(default=False, help_text="Fail when the keyword appears in the body.")
    max_redirects = models.PositiveSmallIntegerField(
        default=10,
        validators=[MaxValueValidator(20)],
        help_text="0 follows none: the 3xx itself is judged against the expected status codes.",
    )
    assertions = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_assertions],
        help_text='All must hold, e.g. [{"source": "json:$.status", "op": "==", "value": "ok"}].',
    )
    # More kinds of checks (SPEC §19); each refused off its default on the kinds that do not use
    # it (``validators.PROTOCOL_FIELDS``).
    ping_count = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(MIN_PING_COUNT), MaxValueValidator(MAX_PING_COUNT)],
        help_text="Ping: echo requests per check (1-10).",
    )
    packet_loss_threshold = models.PositiveSmallIntegerField(
        default=100,
        validators=[MaxValueValidator(100)],
        help_text="Ping: a loss of at least this percentage fails the check (100: only when all are lost).",
    )
    dns_record_type = models.CharField(
        max_length=5, choices=DnsRecordType.choices, default=DnsRecordType.A, help_text="DNS: the record asked for."
    )
    dns_resolver = models.CharField(
        max_length=60,
        blank=True,
        validators=[validate_dns_resolver],
        help_text="DNS: ip or ip:port of the resolver asked; empty: the system's.",
    )
    dns_expected = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_dns_expected],
        help_text="DNS: answers that must all be present (empty: any answer passes).",
    )
    smtp_starttls = models.BooleanField(
        null=True, blank=True, default=None, help_text="SMTP: STARTTLS; empty means yes on ports 25 and 587."
    )
    # Holds the credentials: sent with every check, never shown by the API, the admin or an export.
    dsn = models.CharField(
        max_length=2000, blank=True, help_text="PostgreSQL, MySQL, Redis: a URL; host and port are taken from it."
    )
    db_query = models.TextField(
        blank=True, max_length=10_000, help_text="PostgreSQL, MySQL: SQL to run (empty: SELECT 1); Redis: PING."
    )
    grpc_service = models.CharField(max_length=200, blank=True, help_text="gRPC: the service asked about.")
    grpc_tls = models.BooleanField(default=False, help_text="gRPC: connect with TLS.")
    ws_send = models.TextField(
        blank=True,
        max_length=65_536,
        help_text="WebSocket: a message sent after the handshake; the first answer is judged.",
    )
    ws_tls = models.BooleanField(default=False, help_text="WebSocket: wss:// (also on port 443).")
    tcp_send = models.TextField(
        blank=True, validators=[validate_tcp_text], help_text=r"TCP: bytes to send (\r \n \t \0 \xHH escapes)."
    )
    tcp_expect = models.TextField(
        blank=True, validators=[validate_tcp_text], help_text="TCP: must appear in the first 4 KiB answered."
    )
    # Days before expiry at which a certificate alert goes out (SPEC §13), e.g. [30, 14, 7, 1].
    cert_expiry_alert_days = models.JSONField(
        default=default_cert_alert_days, blank=True, validators=[validate_alert_days]
    )
    is_active = models.BooleanField(default=True)
    # Servers this one cannot be reached without (SPEC §18): while one of them is DOWN, this
    # server's DOWN alerts are suppressed. Same team, no cycles (``validators.dependency_errors``).
    depends_on = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="dependents")
    # Its open outage's DOWN alerts were suppressed because a dependency was down: a failing check
    # once no dependency is down sends them (``services.alerts.rules.release_held_downs``).
    held_by_dependency = models.BooleanField(default=False, editable=False)
    # Where it is checked from (SPEC §20), in order: ``ServerLocation`` rows (``models.locations``).
    # Every server has at least one; the default is the scheduler's own (PROBE_LOCATION).
    locations = models.ManyToManyField(
        "monitoring.ProbeLocation", through="monitoring.ServerLocation", blank=True, related_name="servers"
    )
    # DOWN once this many locations are DOWN; null: more than half of ``locations`` (SPEC §20).
    quorum = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    # When its next check is due (SPEC §9: a fixed rate; the scheduler adds check_interval to the
    # due time it ran, never to the time it finished; ``next_due``). Moved only by ``record``.
    next_check_at = models.DateTimeField(default=_now, editable=False)
    # Seconds added once to the interval after the check at once that follows a creation, resume
    # or edit: servers changed together are all checked at once, then spread over their interval
    # (SPEC §23; ``burst_spread``). Consumed (back to 0) by that check.
    spread_seconds = models.FloatField(default=0, editable=False)
    # Names the server in /badge/<key>/… URLs; served only while the server is on a public page.
    badge_key = models.CharField(max_length=40, unique=True, default=new_badge_key, editable=False)

    # Push monitors (SPEC §11): the secret part of the push URL, and the silence allowed past
    # check_interval. ``push_deadline_at`` is when the next push is due at the latest; the
    # scheduler's push step claims it like a due check (tasks.push). Null on other protocols.
    push_token = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    grace_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MaxValueValidator(MAX_GRACE)],
        help_text="Push monitors: seconds of silence allowed past the check interval.",
    )
    # A cron schedule instead of check_interval (SPEC §19): a push is due at the next cron time,
    # in schedule_timezone, after the last one (plus grace_seconds).
    schedule = models.CharField(
        max_length=100,
        blank=True,
        default="",
        validators=[validate_cron],
        help_text='Push monitors: a cron expression ("0 3 * * *") instead of check_interval.',
    )
    schedule_timezone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone], help_text="The time zone of the schedule."
    )
    push_deadline_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When a job last said "a run began" (``/start``, SPEC §19); the next success or failure
    # records the time since as its response time and clears it.
    push_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The scheduler process holding the due check (tasks.claims), and until when: a process
    # that dies holds it no longer than that, then another claims the same due time again.
    lease_owner = models.CharField(max_length=64, blank=True, default="", editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ServerQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # Server.objects.due(now): the scheduler's "what is due?" query every few seconds.
            models.Index(fields=["is_active", "next_check_at"], name="server_due_idx"),
            # Server.objects.for_user(user) with the default ordering: every API list.
            models.Index(fields=["team", "name"], name="server_team_name_idx"),
            # The dashboard's counts per status and its status filter (a team's servers by status):
            # read from the index alone, not by sorting every server of the team (50,000: 100 → 40 ms).
            models.Index(fields=["team", "status"], name="server_team_status_idx"),
            # Server.objects.push_overdue(now): the scheduler's push step every second; only push
            # servers have a deadline, so the index holds only them.
            models.Index(
                fields=["push_deadline_at"],
                name="server_push_deadline_idx",
                condition=models.Q(push_deadline_at__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(check_interval__gte=MIN_INTERVAL, check_interval__lte=MAX_INTERVAL),
                name="server_check_interval_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        """Create with the initial state (due at once, UNKNOWN or PAUSED), or write an edit's own
        fields only: ``SCHEDULER_FIELDS`` change through ``services.engine.recording.record`` (an edit goes
        through ``services.engine.checks.save_edit``)."""
        creating = self._state.adding
        self._prepare_push()
        if not creating and not args and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name not in SCHEDULER_FIELDS
            ]
        with transaction.atomic():
            if creating:
                now = timezone.now()
                self.next_check_at = now
                self.push_deadline_at = self.next_push_deadline(now)
                self.status = Status.UNKNOWN if self.is_active else Status.PAUSED
            super().save(*args, **kwargs)  # type: ignore[arg-type]
            if creating:
                self.spread_seconds = self.burst_spread(now)
                if self.spread_seconds:
                    Server.objects.filter(pk=self.pk).update(spread_seconds=self.spread_seconds)
                ServerStatus.objects.create(server=self, status=self.status, last_status_change=now)
                self.attach_default_configs()

    def attach_default_configs(self) -> None:
        """Attach the team's ``is_default`` notification configs (SPEC §18): every way a server
        is created (API, web form, admin, import, shell) goes through ``save()``, which calls this."""
        through = Server.notification_configs.through
        configs = through.notificationconfig.field.related_model.objects.filter(team_id=self.team_id, is_default=True)
        through.objects.bulk_create(
            [through(server_id=self.pk, notificationconfig_id=pk) for pk in configs.values_list("pk", flat=True)],
            ignore_conflicts=True,
        )

    def burst_spread(self, now: datetime) -> float:
        """The ``spread_seconds`` of a server checked at once at ``now`` (created, resumed, edited).

        Servers changed together are all checked at once; their later checks must not share a
        second (SPEC §23). The n-th of the team's servers changed within one interval (n from 0,
        other teams never counted) takes the golden-ratio point ``n × 0.618… mod 1`` of the
        interval, counted from the first of them: any run of them fills the interval evenly, and
        a server changed alone (n = 0) keeps a plain fixed rate from its check at once.
        """
        interval = timedelta(seconds=self.check_interval)
        recent = (
            Server.objects.filter(team_id=self.team_id, updated_at__gte=now - interval)
            .exclude(pk=self.pk)
            .aggregate(n=Count("id"), first=Min("updated_at"))
        )
        if not recent["n"]:
            return 0.0
        target = recent["first"] + (recent["n"] * GOLDEN % 1.0) * interval
        return (target - now).total_seconds() % self.check_interval

    def next_due(self, due: datetime, now: datetime, interval: int | None = None) -> datetime:
        """When the check after the one due at ``due`` is due: the one rule for every check.

        1. A fixed rate: ``due + interval`` (``start_scheduler --interval`` overrides the server's
           own), plus the ``spread_seconds`` its check at once was given.
        2. Should that come less than half an interval after ``now``, when the check started
           (the scheduler was away and it ran late), the first later point on the same grid
           that does not: a backlog is not caught up in a burst, and no server is checked twice
           seconds apart.
        """
        step = timedelta(seconds=interval or self.check_interval)
        following = due + step + timedelta(seconds=self.spread_seconds)
        earliest = now + step / 2
        if following >= earliest:
            return following
        return following + math.ceil((earliest - following) / step) * step

    def next_push_deadline(
        self, since: datetime, *, missed: bool = False, now: datetime | None = None
    ) -> datetime | None:
        """When the next push must have come at the latest (SPEC §11): the one rule for every deadline.

        ``since`` is the last push, or the creation, resume or edit of the monitor: the deadline
        is ``check_interval + grace_seconds`` later. After a deadline ``since`` that was just
        missed (``missed``), each further ``check_interval`` of silence is one more failure, but a
        scheduler away for hours records one, not a burst: never before ``now`` + the interval.
        With a ``schedule`` (SPEC §19) the deadline is instead the next cron time after ``since``
        plus ``grace_seconds``, and after a missed one the cron time after the one it belonged to.
        None for a server that awaits no push (not a push monitor, or paused).
        """
        if not self.is_push or not self.is_active:
            return None
        if self.schedule:
            # The cron time the deadline ``since`` belonged to; after hours away, none before now.
            grace = timedelta(seconds=self.grace_seconds)
            after = max(since - grace, (now or since) - grace) if missed else since
            return self.next_cron_time(after) + grace
        if not missed:
            return since + timedelta(seconds=self.push_window)
        step = timedelta(seconds=self.check_interval)
        now = now or since
        return since + step if since + step > now else now + step

    def next_cron_time(self, after: datetime) -> datetime:
        """The first time of ``schedule`` strictly after ``after``, in UTC (counted in schedule_timezone)."""
        local = after.astimezone(ZoneInfo(self.schedule_timezone))
        return croniter(self.schedule, local).get_next(datetime).astimezone(UTC)

    def clean(self) -> None:
        dsn_error = self._take_dsn_address()
        errors = server_errors(
            protocol=self.protocol,
            port=self.port,
            timeout=self.timeout,
            check_interval=self.check_interval,
            host=self.host,
            schedule=self.schedule,
        )
        errors.update(protocol_field_errors(self.protocol, {name: getattr(self, name) for name in PROTOCOL_FIELDS}))
        if dsn_error:
            errors["dsn"] = dsn_error
            errors.pop("host", None)
        try:
            super().clean()
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)

    def _take_dsn_address(self) -> str:
        """A PostgreSQL, MySQL or Redis server's host and port are its ``dsn``'s (SPEC §19); the
        reason when the dsn is no such URL, or is missing where there is no host either."""
        if not self.uses_dsn:
            return ""
        if not self.dsn:
            return "" if self.host else f"A {self.protocol} server needs a dsn (a URL with its host)."
        try:
            self.host, self.port = parse_dsn(self.protocol, self.dsn)
        except (ValueError, ValidationError) as exc:
            message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            return f"{message[0].upper()}{message[1:].rstrip('.')}."
        return ""

    @property
    def effective_port(self) -> int | None:
        if self.port:
            return self.port
        if self.protocol == Protocol.WEBSOCKET:
            return 443 if self.ws_tls else 80
        return DEFAULT_PORTS.get(self.protocol)

    @property
    def uses_dsn(self) -> bool:
        """Its host and port come from its ``dsn`` (PostgreSQL, MySQL, Redis)."""
        return self.protocol in DSN_PROTOCOLS

    @property
    def smtp_uses_starttls(self) -> bool:
        """``smtp_starttls``, or by port when unset: yes on 25 and 587 (SPEC §19)."""
        if self.smtp_starttls is not None:
            return self.smtp_starttls
        return self.effective_port in (25, 587)

    @property
    def ws_secure(self) -> bool:
        return self.ws_tls or self.effective_port == 443

    @property
    def url(self) -> str:
        if self.is_push:
            return ""  # nothing is probed; the push URL is secret-bearing and only in the API
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.protocol == Protocol.PING:
            return f"ping://{host}"
        if self.protocol == Protocol.DNS:
            return f"dns://{host}/{self.dns_record_type}"
        if self.protocol == Protocol.WEBSOCKET:
            path = self.path if self.path.startswith("/") else f"/{self.path}"
            return f"{'wss' if self.ws_secure else 'ws'}://{host}:{self.effective_port}{path}"
        if self.protocol not in (Protocol.HTTP, Protocol.HTTPS):  # never the dsn: it holds credentials
            return f"{self.protocol}://{host}:{self.effective_port}"
        path = self.path if self.path.startswith("/") else f"/{self.path}"
        return f"{self.protocol}://{host}:{self.effective_port}{path}"

    @property
    def is_push(self) -> bool:
        return self.protocol == Protocol.PUSH

    @property
    def push_window(self) -> int:
        """Seconds of silence after which a push monitor's check fails (check_interval + grace)."""
        return self.check_interval + self.grace_seconds

    def _prepare_push(self) -> None:
        """A push server has a token, other servers none."""
        if self.is_push:
            if not self.push_token:
                self.push_token = new_push_token()
        else:
            self.push_token = None


def dependency_cycle(server: Server | None, team_id: int, depends_on: Iterable[int]) -> str | None:
    """Why ``server`` may not depend on the servers ``depends_on`` (ids of team ``team_id``): itself,
    or one that already depends on it, however indirectly; None when it may. One query (the team's
    dependency links), none for a new server (nothing depends on it yet)."""
    targets = set(depends_on)
    if server is None or server.pk is None or not targets:
        return None
    if server.pk in targets:
        return "A server cannot depend on itself."
    edges: dict[int, set[int]] = {}
    for source, target in Server.depends_on.through.objects.filter(from_server__team_id=team_id).values_list(
        "from_server_id", "to_server_id"
    ):
        edges.setdefault(source, set()).add(target)
    edges[server.pk] = targets  # as it would be
    seen: set[int] = set()
    stack = list(targets)
    while stack:
        node = stack.pop()
        if node == server.pk:
            return "That would make a cycle: a server it depends on already depends on it."
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return None


class ServerStatusQuerySet(OwnedQuerySet):
    team_lookup = "server__team"


class StatusChangeQuerySet(OwnedQuerySet):
    team_lookup = "server__team"


class ServerStatus(models.Model):
    """The current aggregate status of one server, updated by every check."""

    server = models.OneToOneField(Server, on_delete=models.CASCADE, related_name="server_status")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNKNOWN)
    uptime_percentage = models.FloatField(null=True, blank=True)
    total_checks = models.PositiveIntegerField(default=0)
    failed_checks = models.PositiveIntegerField(default=0)
    last_check = models.DateTimeField(null=True, blank=True)
    last_response_time = models.FloatField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    last_status_change = models.DateTimeField(null=True, blank=True)
    # Moves on every save; the SSE feed's `since` filter reads it.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ServerStatusQuerySet.as_manager()

    class Meta:
        ordering = ["server_id"]
        verbose_name_plural = "server statuses"

    def __str__(self) -> str:
        return f"{self.server_id}: {self.status}"

    def record_check(self, failed: bool) -> None:
        """Count one check toward the all-time uptime percentage."""
        self.total_checks += 1
        self.failed_checks += int(failed)
        self.uptime_percentage = round(100.0 * (self.total_checks - self.failed_checks) / self.total_checks, 3)


class StatusChange(models.Model):
    """One transition of a server's status, written with the new ServerStatus in one transaction."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="status_changes")
    previous_status = models.CharField(max_length=12, choices=Status.choices)
    status = models.CharField(max_length=12, choices=Status.choices)
    message = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(default=_now)
    ping = models.ForeignKey("monitoring.PingResult", on_delete=models.SET_NULL, null=True, blank=True)

    objects = StatusChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            # A server's history of changes, newest first (admin inline, incidents, uptime).
            models.Index(fields=["server", "-changed_at"], name="statuschange_server_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.server_id}: {self.previous_status} → {self.status}"
