"""The result of every single check, and the hourly rollups that outlive them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from monitoring.choices import PingKind, PingStatus
from monitoring.models.base import OwnedQuerySet
from monitoring.models.fields import BrinOnPostgresIndex, RealField

# Ever wider windows back from now (or a cursor's position), tried in turn by ``recent``.
# A window with no rows costs next to nothing to count (BRIN: no block range matches).
RECENT_SPANS = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60, 6 * 60, 24 * 60, 7 * 24 * 60))


class PingResultQuerySet(OwnedQuerySet):
    team_lookup = "server__team"

    def checks(self) -> PingResultQuerySet:
        """Only the results that are checks: a push's ``log`` never counts in status, uptime,
        history or rollups (SPEC §19)."""
        return self.filter(kind=PingKind.CHECK)

    def at_location(self, slug: str) -> PingResultQuerySet:
        """The results of checks run from the location ``slug`` (SPEC §20). Rows with no location
        are from the scheduler's own (``PROBE_LOCATION``), as every row before locations was."""
        if slug == settings.PROBE_LOCATION:
            return self.filter(models.Q(location__slug=slug) | models.Q(location__isnull=True))
        return self.filter(location__slug=slug)

    def recent(self, rows: int, before: datetime | None = None) -> PingResultQuerySet:
        """This queryset limited to the shortest recent window that still holds its newest ``rows``.

        Time ordering over many servers has no b-tree to walk (ping_time_brin_idx is a BRIN),
        so "the newest 50 of everything" would sort every row. Bounded below by a window that
        is known to hold ``rows`` rows before ``before`` (default now), the page is the
        same and PostgreSQL reads only that window's block ranges. One small count per window
        tried; when none is enough, the queryset as it was.
        """
        before = before or timezone.now()
        for span in RECENT_SPANS:
            window = self.filter(check_timestamp__gte=before - span)
            # Strictly before: a cursor page starts after its position (CursorPagination's __lt).
            if window.filter(check_timestamp__lt=before).order_by()[:rows].count() >= rows:
                return window
        return self


class PingResult(models.Model):
    """One check of one server: its outcome, response time and HTTP status code.

    Raw rows are kept for RAW_RESULT_RETENTION_DAYS (``services.history.retention``); the
    HourlyRollup of their hour outlives them. docs/PERFORMANCE.md ("Storage per check")
    measures what a row costs with its indexes.
    """

    # No index of its own: ping_server_time_idx starts with server_id and serves every
    # lookup by server (filters, CASCADE deletes) at a third of the size of both together.
    server = models.ForeignKey(
        "monitoring.Server", on_delete=models.CASCADE, related_name="ping_results", db_index=False
    )
    status = models.CharField(max_length=8, choices=PingStatus.choices)
    response_time = RealField(null=True, blank=True, help_text="Milliseconds.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    check_timestamp = models.DateTimeField(default=timezone.now)
    # The check ran inside a maintenance window: stored and shown, not counted in uptime (SPEC §12).
    maintenance = models.BooleanField(default=False)
    # A push's ``/log`` is kept as a ``log`` that counts nowhere (SPEC §19); ``body`` is the first
    # MAX_BODY bytes of a push's POST body, as text.
    kind = models.CharField(max_length=8, choices=PingKind.choices, default=PingKind.CHECK)
    body = models.TextField(blank=True)
    # A number a push sent with it (SPEC §19: disk use, a queue's length), judged by the push
    # server's ``value`` assertions and charted as value_avg/min/max. Double precision: a
    # counter of bytes needs more than ``real``'s 7 digits.
    value = models.FloatField(null=True, blank=True)
    # What a check saw beyond its status, e.g. a dns check's {"rcode", "answers"} (SPEC §19); null
    # for most checks.
    detail = models.JSONField(null=True, blank=True)
    # Where the check ran (SPEC §20). Null: rows from before locations, all from the scheduler's
    # own location (``PingResultQuerySet.at_location``). No index of its own: filtered with server.
    location = models.ForeignKey(
        "monitoring.ProbeLocation", null=True, blank=True, on_delete=models.RESTRICT, related_name="+", db_index=False
    )

    objects = PingResultQuerySet.as_manager()

    class Meta:
        ordering = ["-check_timestamp", "-id"]
        indexes = [
            # A server's results newest first: ?server= history, the 24h chart, uptime windows.
            models.Index(fields=["server", "-check_timestamp"], name="ping_server_time_idx"),
            # Time ranges over all servers: since/until on the history, the rollup job's hour
            # scans and pruning. Rows arrive in time order, so BRIN fits (0.1 byte a row where
            # a b-tree costs 22).
            BrinOnPostgresIndex(fields=["check_timestamp"], name="ping_time_brin_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.server_id} {self.status} @ {self.check_timestamp:%Y-%m-%d %H:%M:%S}"

    @property
    def failed(self) -> bool:
        return self.status != PingStatus.SUCCESS


class HourlyRollupQuerySet(OwnedQuerySet):
    team_lookup = "server__team"


class HourlyRollup(models.Model):
    """One server's checks in one UTC hour, recomputed from the raw rows (``services.history.rollups``).

    ``checks`` counts every check, ``maintenance`` those inside a maintenance window, and
    ``failures`` the failed checks outside one. The response-time figures cover the ``timed``
    checks: successful, outside maintenance, with a response time (the same set uptime's
    percentiles use); the value figures the ``valued`` ones, results that carry a pushed
    ``value``. Kept for ROLLUP_RETENTION_DAYS (0 = for ever).
    """

    server = models.ForeignKey("monitoring.Server", on_delete=models.CASCADE, related_name="rollups", db_index=False)
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    checks = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    maintenance = models.PositiveIntegerField(default=0)
    timed = models.PositiveIntegerField(default=0)
    response_time_min = RealField(null=True, blank=True)
    response_time_avg = RealField(null=True, blank=True)
    response_time_p50 = RealField(null=True, blank=True)
    response_time_p95 = RealField(null=True, blank=True)
    response_time_max = RealField(null=True, blank=True)
    # The hour's pushed values (SPEC §19), of every check that carried one, failed or not:
    # ``valued`` of them, so that buckets of several hours weigh each hour's average.
    valued = models.PositiveIntegerField(default=0)
    value_min = models.FloatField(null=True, blank=True)
    value_avg = models.FloatField(null=True, blank=True)
    value_max = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = HourlyRollupQuerySet.as_manager()

    class Meta:
        ordering = ["server", "hour"]
        constraints = [
            # The upsert's conflict target, and the index every history and uptime read uses.
            models.UniqueConstraint(fields=["server", "hour"], name="rollup_server_hour_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.server_id} @ {self.hour:%Y-%m-%d %H:00}: {self.checks} checks, {self.failures} failures"


class RawHistoryHorizon(models.Model):
    """Where raw history begins: before ``raw_from`` PingResults are pruned, read the rollups.

    One row (pk 1), moved forward by ``services.history.retention.prune`` right after it has rolled up
    an hour and before it deletes that hour's rows, so a reader never counts an hour twice or
    half. No row means nothing was ever pruned.
    """

    raw_from = models.DateTimeField()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"raw history from {self.raw_from:%Y-%m-%d %H:%M}"

    @classmethod
    def current(cls) -> datetime | None:
        return cls.objects.filter(pk=1).values_list("raw_from", flat=True).first()

    @classmethod
    def advance(cls, raw_from: datetime) -> None:
        cls.objects.update_or_create(pk=1, defaults={"raw_from": raw_from})
