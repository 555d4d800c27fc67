"""Scheduler steps for history: keep the hourly rollups current, prune raw rows once a day."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from monitoring.services.retention import prune
from monitoring.services.rollups import hours_between, recompute

log = logging.getLogger(__name__)

ROLLUP_STEP_SECONDS = 60
PRUNE_STEP_SECONDS = 24 * 3600
# A scheduler that was stopped misses the hours it was down; its first run catches up this far.
CATCH_UP = timedelta(hours=24)


class RollupStep:
    """Recompute the current and previous hour's rollups (the last 24 h on the first run).

    A recompute, never an increment: results committed late are counted at the next run, and
    two schedulers running it at the same time write the same figures.
    """

    def __init__(self) -> None:
        self.caught_up = False

    def __call__(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        start = now - (timedelta(hours=1) if self.caught_up else CATCH_UP)
        close_old_connections()
        try:
            written = recompute(hours_between(start, now))
        finally:
            close_old_connections()
        self.caught_up = True
        return bool(written)


def prune_step(now: datetime | None = None) -> bool:
    """Delete raw results older than RAW_RESULT_RETENTION_DAYS (0: keep them); True if any went."""
    days = settings.RAW_RESULT_RETENTION_DAYS
    if days == 0:
        return False
    close_old_connections()
    try:
        summary = prune(days, now=now, rollup_days=settings.ROLLUP_RETENTION_DAYS)
    finally:
        close_old_connections()
    if summary.deleted or summary.rollups_deleted:
        log.info(
            "prune_results deleted=%d hours=%d rollups_deleted=%d cutoff=%s",
            summary.deleted,
            summary.hours,
            summary.rollups_deleted,
            summary.cutoff.isoformat(),
        )
    return bool(summary.deleted)
