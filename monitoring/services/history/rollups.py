"""Hourly rollups: an idempotent recompute of (server, hour) from the raw PingResults.

A rollup is never incremented, only recomputed from the hour's committed rows and written
with an upsert (INSERT … ON CONFLICT DO UPDATE), so running it twice, late, or in two
scheduler processes at once counts each result exactly once. The scheduler and
``check_servers`` roll up each hour once it is final (``is_final``, ``tasks.rollups``), when
results committed a little late are in; readers take the raw rows of the hours after the last
final rollup. Pruning rolls an hour up again right before deleting its rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Avg, Count, FloatField, Func, IntegerField, Max, Min, Q

from monitoring.choices import PingStatus
from monitoring.models import HourlyRollup, PingResult

HOUR = timedelta(hours=1)
# A check's row carries the time it started and is committed when it ends (timeouts are at most
# 300 s), so an hour's rows are all in some minutes after it: a rollup made this long after its
# hour ended is final (``is_final``); readers take the raw rows of an hour until it is.
FINAL_AFTER = timedelta(minutes=6)
# Which checks count where: failures and response times leave maintenance out (SPEC §12).
COUNTED = Q(maintenance=False)
FAILED = COUNTED & ~Q(status=PingStatus.SUCCESS)
TIMED = COUNTED & Q(status=PingStatus.SUCCESS, response_time__isnull=False)
# A pushed value counts wherever it came (a failing push's above all: it is what broke the rule).
VALUED = Q(value__isnull=False)
UPSERT_BATCH = 2000  # rows per INSERT: 16 parameters each stays well under PostgreSQL's 65,535
UPDATED = [
    "checks",
    "failures",
    "maintenance",
    "timed",
    "response_time_min",
    "response_time_avg",
    "response_time_p50",
    "response_time_p95",
    "response_time_max",
    "valued",
    "value_min",
    "value_avg",
    "value_max",
    "updated_at",
]


class PercentileDisc(Aggregate):
    """PostgreSQL's nearest-rank percentile: the value at rank ceil(q·n), as ``uptime`` reads it."""

    function = "percentile_disc"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


class EpochSeconds(Func):
    """A time as whole seconds since the UTC epoch, rounded down: an int is cheaper to read than
    a datetime (``charts.history`` reads ~2,000 of them for 30 days)."""

    output_field = IntegerField()
    # SQLite's text 'YYYY-MM-DD HH:MM:SS.ffffff' without its fraction (strftime rounds to the
    # millisecond: .9999995 would be the next second); its "%s" is %%%%s, once for Func's template
    # and once for the backend's.
    template = "CAST(strftime('%%%%s', substr(%(expressions)s, 1, 19)) AS integer)"

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="FLOOR(EXTRACT(EPOCH FROM %(expressions)s))::bigint", **extra)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def is_final(hour: datetime, updated_at: datetime) -> bool:
    """Whether a rollup of ``hour`` written at ``updated_at`` counts every row its hour will have."""
    return updated_at >= hour + HOUR + FINAL_AFTER


# is_final in EpochSeconds: an integer second reaches hour + FINAL_SECONDS exactly when the time does.
FINAL_SECONDS = int((HOUR + FINAL_AFTER).total_seconds())


def nearest_rank(ordered: Sequence[float], q: float) -> float | None:
    """The value at rank ceil(q·n) of an ascending list (same rule as PercentileDisc)."""
    if not ordered:
        return None
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def _python_percentiles(rows: Any) -> dict[int, tuple[float | None, float | None]]:
    """(p50, p95) per server from the hour's timed rows; for databases without percentile_disc."""
    times: dict[int, list[float]] = defaultdict(list)
    for server_id, response_time in (
        rows.filter(TIMED).order_by("server_id", "response_time").values_list("server_id", "response_time")
    ):
        times[server_id].append(response_time)
    return {sid: (nearest_rank(ts, 0.50), nearest_rank(ts, 0.95)) for sid, ts in times.items()}


def rollup_hour(hour: datetime) -> list[HourlyRollup]:
    """Every server's rollup of the UTC hour starting at ``hour``, from its committed rows.

    1. One GROUP BY server over the hour (PingResult's BRIN range, or a b-tree off PostgreSQL):
       counts, min / avg / max, and on PostgreSQL the percentiles too.
    2. Elsewhere, the percentiles from the hour's timed response times, read in order.
    """
    rows = PingResult.objects.checks().filter(check_timestamp__gte=hour, check_timestamp__lt=hour + HOUR)
    aggregates: dict[str, Any] = {
        "checks": Count("id"),
        "failures": Count("id", filter=FAILED),
        "maintenance_checks": Count("id", filter=Q(maintenance=True)),
        "timed": Count("id", filter=TIMED),
        "rt_min": Min("response_time", filter=TIMED),
        "rt_avg": Avg("response_time", filter=TIMED),
        "rt_max": Max("response_time", filter=TIMED),
        "valued": Count("id", filter=VALUED),
        "v_min": Min("value", filter=VALUED),
        "v_avg": Avg("value", filter=VALUED),
        "v_max": Max("value", filter=VALUED),
    }
    on_postgres = connection.vendor == "postgresql"
    if on_postgres:
        aggregates["rt_p50"] = PercentileDisc("response_time", 0.50, filter=TIMED)
        aggregates["rt_p95"] = PercentileDisc("response_time", 0.95, filter=TIMED)
    groups = list(rows.order_by().values("server_id").annotate(**aggregates).order_by("server_id"))
    percentiles = {} if on_postgres else _python_percentiles(rows)
    rollups = []
    for g in groups:
        p50, p95 = (g["rt_p50"], g["rt_p95"]) if on_postgres else percentiles.get(g["server_id"], (None, None))
        rollups.append(
            HourlyRollup(
                server_id=g["server_id"],
                hour=hour,
                checks=g["checks"],
                failures=g["failures"],
                maintenance=g["maintenance_checks"],
                timed=g["timed"],
                response_time_min=g["rt_min"],
                response_time_avg=g["rt_avg"],
                response_time_p50=p50,
                response_time_p95=p95,
                response_time_max=g["rt_max"],
                valued=g["valued"],
                value_min=g["v_min"],
                value_avg=g["v_avg"],
                value_max=g["v_max"],
            )
        )
    return rollups


def recompute(hours: Iterable[datetime]) -> int:
    """Recompute and upsert the rollups of ``hours`` (each floored to its UTC hour); rows written.

    Rows go in server order, so two processes upserting the same hour take row locks in
    the same order and cannot deadlock; the later one simply rewrites the same figures.
    """
    written = 0
    for hour in sorted({floor_hour(h) for h in hours}):
        rollups = rollup_hour(hour)
        HourlyRollup.objects.bulk_create(
            rollups,
            batch_size=UPSERT_BATCH,
            update_conflicts=True,
            unique_fields=["server", "hour"],
            update_fields=UPDATED,
        )
        written += len(rollups)
    return written


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Every UTC hour start from the hour of ``start`` up to and including the hour of ``end``."""
    hour, last, hours = floor_hour(start), floor_hour(end), []
    while hour <= last:
        hours.append(hour)
        hour += HOUR
    return hours
