"""Steps for history: roll up each finished hour once it is final, prune raw rows once a day.

Both are idempotent and keep what they need to remember where every process sees it, so the
scheduler's jobs and ``check_servers``' housekeeping (``tasks.housekeeping``) call the same
steps, in any number of processes, as often as they like.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from monitoring.models import HourlyRollup
from monitoring.services.history.retention import first_hour, prune, prune_audit, prune_receipts
from monitoring.services.history.rollups import FINAL_AFTER, HOUR, floor_hour, recompute

log = logging.getLogger(__name__)

ROLLUP_STEP_SECONDS = 60
# Pruning is due once a day (``prune_due``); the scheduler asks every hour.
PRUNE_STEP_SECONDS = 3600
# The first hour not rolled up yet, in the shared cache (``next_hour``). A run rolls up at most
# this many hours, oldest first (after a long outage the next runs go on from there).
NEXT_HOUR_KEY = "housekeeping:rollups:next-hour"
CATCH_UP = timedelta(hours=24)


def next_hour(end: datetime) -> datetime:
    """The first hour to roll up: where the last run stopped, kept in the shared cache.

    Without it (a first run, or the database cache culled the entry) the hour of the newest
    rollup row (rows are inserted hour by hour, so the highest id is the latest hour rolled up),
    done once more in case it was rolled up unfinished; CATCH_UP back when there is none. An
    evicted entry costs an hour's recompute, not a day's.
    """
    start = cache.get(NEXT_HOUR_KEY)
    if start is None:
        last = HourlyRollup.objects.order_by("-pk").values_list("hour", flat=True).first()
        start = end - CATCH_UP if last is None else max(min(last, end - HOUR), end - CATCH_UP)
    return start


def rollup_step(now: datetime | None = None) -> int:
    """Recompute the rollups of the hours that became final since the last run; how many hours.

    An hour is final ``FINAL_AFTER`` after its end (``rollups.is_final``): until then history
    and uptime read its raw rows, so a rollup of an unfinished hour would be read by nobody.
    A recompute, never an increment: two processes doing the same hour write the same figures.
    """
    now = now or timezone.now()
    end = floor_hour(now - FINAL_AFTER)  # hours before it are final
    start = next_hour(end)
    hours = []
    while start < end and len(hours) < CATCH_UP / HOUR:
        hours.append(start)
        start += HOUR
    if hours:
        written = recompute(hours)
        cache.set(NEXT_HOUR_KEY, start, timeout=None)
        log.info("rollups hours=%d rows=%d through=%s", len(hours), written, start.isoformat())
    return len(hours)


def prune_due(days: int, now: datetime) -> bool:
    """Whether raw rows are more than a day past retention: pruning runs at most once a day.

    Read from the rows themselves (one indexed MIN), so no process has to remember the last run.
    """
    return first_hour(None, floor_hour(now - timedelta(days=days + 1))) is not None


def prune_step(now: datetime | None = None) -> int:
    """Delete raw results older than RAW_RESULT_RETENTION_DAYS (0: keep them) when pruning is due;
    how many went. Audit rows past AUDIT_RETENTION_DAYS and agents' idempotency keys past
    AGENT_RECEIPT_HOURS go at every run (one indexed DELETE each, whatever the results' retention)."""
    days = settings.RAW_RESULT_RETENTION_DAYS
    now = now or timezone.now()
    audit_deleted = prune_audit(settings.AUDIT_RETENTION_DAYS, now=now)
    if audit_deleted:
        log.info("prune_audit deleted=%d", audit_deleted)
    receipts_deleted = prune_receipts(settings.AGENT_RECEIPT_HOURS, now=now)
    if receipts_deleted:
        log.info("prune_agent_receipts deleted=%d", receipts_deleted)
    if days == 0 or not prune_due(days, now):
        return 0
    summary = prune(days, now=now, rollup_days=settings.ROLLUP_RETENTION_DAYS)
    log.info(
        "prune_results deleted=%d hours=%d rollups_deleted=%d cutoff=%s",
        summary.deleted,
        summary.hours,
        summary.rollups_deleted,
        summary.cutoff.isoformat(),
    )
    return summary.deleted
