"""Retention: delete raw PingResults older than RAW_RESULT_RETENTION_DAYS, hour by hour, and
audit rows older than AUDIT_RETENTION_DAYS (``prune_audit``, run with it).

Each hour is rolled up again first, then the raw-history horizon moves past it (readers
switch that hour to its rollup), then its rows go in small batches, each its own short
transaction, so no lock is held for long and the checks keep recording meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from authentication.models import AuditEntry
from monitoring.models import AgentReceipt, HourlyRollup, PingResult, RawHistoryHorizon, StatusChange
from monitoring.services.history.rollups import HOUR, floor_hour, recompute

DELETE_BATCH = 5000


@dataclass
class PruneSummary:
    cutoff: datetime
    deleted: int = 0
    hours: int = 0
    batches: int = 0
    oldest_deleted: datetime | None = None
    rollups_deleted: int = 0


def _delete_batch(ids: list[int]) -> int:
    """Delete these PingResults in one short transaction; status changes that named one keep
    their row with ``ping`` emptied (what SET_NULL would do, without loading the pings)."""
    with transaction.atomic():
        StatusChange.objects.filter(ping_id__in=ids).update(ping=None)
        table = connection.ops.quote_name(PingResult._meta.db_table)
        placeholders = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({placeholders})", ids)
            return cursor.rowcount


def _roll_up_before_pruning(hour: datetime) -> bool:
    """Recompute ``hour``'s rollups and move the horizon past it, unless another pruner has.

    One short transaction holding the horizon row's lock: two processes pruning at once (a
    scheduler and ``check_servers``, or a long run and the next cron run) roll each hour up
    once, before any of its rows go; the later one would count only the rows left.
    """
    with transaction.atomic():
        horizon, _ = RawHistoryHorizon.objects.select_for_update().get_or_create(pk=1, defaults={"raw_from": hour})
        if horizon.raw_from >= hour + HOUR:
            return False
        recompute([hour])
        horizon.raw_from = hour + HOUR
        horizon.save(update_fields=["raw_from"])
    return True


def first_hour(after: datetime | None, before: datetime) -> datetime | None:
    """The hour of the oldest raw row in [after, before), or None.

    A range on check_timestamp, so PostgreSQL reads only the BRIN block ranges before the
    cutoff (a day of rows when pruning runs daily), not the whole table.
    """
    rows = PingResult.objects.filter(check_timestamp__lt=before)
    if after is not None:
        rows = rows.filter(check_timestamp__gte=after)
    oldest = rows.aggregate(oldest=Min("check_timestamp"))["oldest"]
    return None if oldest is None else floor_hour(oldest)


def prune(
    days: int,
    *,
    now: datetime | None = None,
    batch_size: int = DELETE_BATCH,
    rollup_days: int = 0,
    progress: Callable[[datetime, int], None] | None = None,
) -> PruneSummary:
    """Delete raw results from before the UTC hour ``days`` ago (rolled up first).

    1. For each hour with raw rows before the cutoff hour, oldest first: recompute its rollups
       and move RawHistoryHorizon to the end of it (unless another pruner already has), then
       delete its rows ``batch_size`` at a time.
    2. With ``rollup_days`` > 0, delete rollups older than that too (0 keeps them for ever).
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    now = now or timezone.now()
    summary = PruneSummary(cutoff=floor_hour(now - timedelta(days=days)))
    hour = first_hour(None, summary.cutoff)
    while hour is not None and hour < summary.cutoff:
        rows = PingResult.objects.filter(check_timestamp__gte=hour, check_timestamp__lt=hour + HOUR).order_by()
        if not rows.exists():  # a gap (the server paused, the scheduler stopped): on to the next row's hour
            hour = first_hour(hour + HOUR, summary.cutoff)
            continue
        _roll_up_before_pruning(hour)
        deleted_in_hour = 0
        while ids := list(rows.values_list("id", flat=True)[:batch_size]):
            deleted_in_hour += _delete_batch(ids)
            summary.batches += 1
        summary.deleted += deleted_in_hour
        summary.hours += 1
        summary.oldest_deleted = summary.oldest_deleted or hour
        if progress is not None:
            progress(hour, deleted_in_hour)
        hour += HOUR
    if rollup_days > 0:
        summary.rollups_deleted, _ = HourlyRollup.objects.filter(hour__lt=now - timedelta(days=rollup_days)).delete()
    return summary


def prune_receipts(hours: int, *, now: datetime | None = None) -> int:
    """Delete agents' idempotency keys (``AgentReceipt``) older than ``hours``; how many went.

    A key only has to outlive the retries of its batch: an agent resends a batch until it is
    answered and then forgets it, so a day is far more than any retry takes (SPEC §20)."""
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    deleted, _ = AgentReceipt.objects.filter(received_at__lt=cutoff).delete()
    return deleted


def prune_audit(days: int, *, now: datetime | None = None) -> int:
    """Delete audit rows older than ``days`` days (0 keeps them for ever); how many went.

    One DELETE on the ``time`` index: a year of changes by people is small beside the results."""
    if days < 1:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _ = AuditEntry.objects.filter(time__lt=cutoff).delete()
    return deleted
