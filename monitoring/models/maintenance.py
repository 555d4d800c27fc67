"""Maintenance windows: when a server's checks are stored but neither alert nor count (SPEC §12)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from monitoring.choices import Recurrence
from monitoring.models.base import OwnedQuerySet, TeamOwned
from monitoring.models.servers import picks
from monitoring.validators import validate_tags

MAX_DURATION_MINUTES = 7 * 24 * 60


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; UTC for a name zoneinfo does not know (validated on input)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class MaintenanceWindowQuerySet(OwnedQuerySet):
    def enabled(self) -> MaintenanceWindowQuerySet:
        return self.filter(enabled=True)

    def active_at(self, when: datetime) -> list[MaintenanceWindow]:
        """The enabled windows active at ``when`` (recurrences are judged in Python, per window)."""
        return [w for w in self.enabled() if w.is_active_at(when)]


class MaintenanceWindow(TeamOwned):
    """A span of time in which the covered servers are in maintenance.

    It covers ``servers`` (the team's) and every server of the team with any of ``tags``.
    Either one-off (``starts_at`` … ``ends_at``) or recurring: ``recurrence`` daily or weekly
    (on ``weekdays``, 0 = Monday), from ``start_time`` local time in ``timezone`` for
    ``duration_minutes``. Local times are wall-clock times: a weekly window at 02:00
    Europe/Berlin starts at 02:00 local on both sides of a daylight-saving change.
    """

    #: Who created it (kept when they leave the team; null once their account is deleted).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="maintenance_windows"
    )
    name = models.CharField(max_length=200)
    servers = models.ManyToManyField("monitoring.Server", blank=True, related_name="maintenance_windows")
    tags = models.JSONField(default=list, blank=True, validators=[validate_tags])
    enabled = models.BooleanField(default=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    recurrence = models.CharField(max_length=6, choices=Recurrence.choices, blank=True)
    weekdays = models.JSONField(default=list, blank=True, help_text="Weekly: 0 = Monday … 6 = Sunday.")
    start_time = models.TimeField(null=True, blank=True, help_text="Recurring: local start time, HH:MM.")
    duration_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_DURATION_MINUTES)]
    )
    timezone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MaintenanceWindowQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # MaintenanceWindow.objects.for_user(user): the API list; the recorder's windows of a batch's teams.
            models.Index(fields=["team", "enabled"], name="maintenance_team_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    # --- time -----------------------------------------------------------------------------

    def occurrences(self, around: datetime, days_after: int = 8) -> Iterator[tuple[datetime, datetime]]:
        """(start, end) of the occurrences that may touch ``around`` or follow it within ``days_after``
        days, oldest first, as aware datetimes.

        1. One-off: its single span.
        2. Recurring: for each local date from (duration in days + 1) before ``around``'s local
           date to ``days_after`` after it, the start is that date at ``start_time`` in the
           window's zone (a wall-clock time, so DST moves it in UTC, not locally; a start in
           the hour that a spring change skips falls an hour later); weekly windows keep only
           their weekdays. The end is the start plus the duration in real minutes.
        """
        if not self.recurrence:
            if self.starts_at and self.ends_at:
                yield self.starts_at, self.ends_at
            return
        if self.start_time is None or not self.duration_minutes:
            return
        tz = zone(self.timezone)
        local_day = around.astimezone(tz).date()
        back = self.duration_minutes // 1440 + 1
        duration = timedelta(minutes=self.duration_minutes)
        for offset in range(-back, days_after + 1):
            day: date = local_day + timedelta(days=offset)
            if self.recurrence == Recurrence.WEEKLY and day.weekday() not in self.weekdays:
                continue
            # In UTC from here: aware arithmetic within one zone is wall-clock arithmetic.
            start = datetime.combine(day, self.start_time, tzinfo=tz).astimezone(UTC)
            yield start, start + duration

    def is_active_at(self, when: datetime) -> bool:
        if not self.enabled:
            return False
        return any(start <= when < end for start, end in self.occurrences(when, days_after=0))

    def next_start(self, after: datetime) -> datetime | None:
        """The first start later than ``after``; None when there is none (a past one-off, or disabled)."""
        if not self.enabled:
            return None
        for start, _ in self.occurrences(after):
            if start > after:
                return start
        return None

    def covers(self, server_id: int, server_tags: Iterable[str], server_ids: set[int]) -> bool:
        """Whether the window reaches a server given its id, its tags and the window's server ids."""
        return picks(server_id, server_tags, server_ids, self.tags)
