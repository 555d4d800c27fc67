"""Uptime over a window: share of checks that did not fail, response-time percentiles, incidents.

The raw rows answer for the part of the window they still cover; the hours before the
raw-history horizon (pruned) are read from their HourlyRollups. Counts, failures and the
uptime percentage are exact either way. p50/p95 are exact while the window is covered by raw
rows; once it reaches past the horizon they are a weighted nearest-rank over the hourly
p50/p95 of the window's rollups, an approximation.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, TypedDict

from django.db.models import Avg, Case, Count, F, FloatField, Min, Q, RowRange, Sum, Value, When, Window
from django.db.models.functions import Cast
from django.utils import timezone

from monitoring.models import HourlyRollup, Incident, PingResult, RawHistoryHorizon, Server
from monitoring.services.history.charts import WINDOWS, uptime_percentage
from monitoring.services.history.rollups import FAILED, TIMED


class UptimeReport(TypedDict):
    window: str
    uptime_percentage: float | None
    checks: int
    failures: int
    response_time_p50: float | None
    response_time_p95: float | None
    incidents: int
    mttr_seconds: float | None


def _percentile(pings: object, count: int, q: float) -> float | None:
    """Nearest-rank percentile read by the database (ORDER BY … OFFSET), same on SQLite and PostgreSQL."""
    if count == 0:
        return None
    rank = max(math.ceil(q * count) - 1, 0)
    return pings.order_by("response_time").values_list("response_time", flat=True)[rank]  # type: ignore[attr-defined]


def _weighted_ranks(**fractions: tuple[str, float]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Annotations for rollups, and aggregates over them answering per name the nearest-rank
    percentile q of a field weighted by ``timed``: ``charts.weighted_rank`` in SQL (SQLite and
    PostgreSQL alike), so ~2,160 rows for 90d are not read and ranked in Python.

    1. A row's weight is its ``timed``, 0 where the field is null.
    2. ``seen``: the running total of the weights row by row in the field's order (a ROWS frame,
       cheaper than peers' RANGE); ``total``: all of them.
    3. The first weighted row whose running total reaches q·total holds the answer, and every
       row after it a value no smaller: the answer is the least value of the weighted rows that
       reached it (an integer reaches q·total exactly when it reaches ceil(q·total); both sides
       in double precision, as in Python). No weighted row: null.
    """
    annotations: dict[str, Any] = {}
    aggregates: dict[str, Any] = {}
    for name, (field, q) in fractions.items():
        weight = Case(When(**{f"{field}__isnull": False}, then=F("timed")), default=Value(0))
        annotations[f"{name}_weight"] = weight
        annotations[f"{name}_seen"] = Window(Sum(weight), order_by=F(field).asc(), frame=RowRange(None, 0))
        annotations[f"{name}_total"] = Window(Sum(weight))
        reached = F(f"{name}_total") * Cast(Value(q), FloatField())
        aggregates[name] = Min(field, filter=Q(**{f"{name}_weight__gt": 0, f"{name}_seen__gte": reached}))
    return annotations, aggregates


def uptime(server: Server, window: str, now: datetime | None = None, location: str | None = None) -> UptimeReport:
    """Report on ``server`` over the last ``window`` (a key of WINDOWS).

    ``checks`` are the window's checks outside maintenance windows, ``failures`` the failed ones.
    With ``location`` (a slug, SPEC §20) only the checks run from there count, read from the raw
    rows alone: rollups are of all locations together, so hours already pruned count nothing.
    Incidents are the server's, whatever the location.

    1. Count checks and failures in the raw rows from the later of the window's start and the
       raw-history horizon (one aggregate on ping_server_time_idx).
    2. If the window starts before the horizon, add the rollups of the whole hours in between,
       and take p50/p95 from the window's rollups (one query, ``_weighted_ranks``); otherwise read them
       from the raw rows.
    3. Count the incidents that began in the window, and average the durations of those
       that ended in it (mean time to recovery, also when one began before the window), in one
       aggregate.
    """
    now = now or timezone.now()
    since = now - WINDOWS[window]
    raw_from = RawHistoryHorizon.current()
    pings = PingResult.objects.checks().filter(server=server, check_timestamp__gte=since, check_timestamp__lte=now)
    if location is not None:
        pings = pings.at_location(location)
    if raw_from is not None and raw_from > since:
        pings = pings.filter(check_timestamp__gte=raw_from)
    totals = pings.aggregate(checks=Count("id", filter=Q(maintenance=False)), failures=Count("id", filter=FAILED))
    checks, failures = totals["checks"], totals["failures"]

    if location is None and raw_from is not None and raw_from > since:
        # One query: the pruned hours' counts and the window's weighted p50/p95 (~2,160 rows for
        # 90d), answered by the database instead of read and ranked here.
        rollups = HourlyRollup.objects.filter(server=server, hour__gte=since, hour__lte=now)
        annotations, ranks = _weighted_ranks(p50=("response_time_p50", 0.50), p95=("response_time_p95", 0.95))
        pruned = Q(hour__lt=raw_from)
        old = rollups.annotate(**annotations).aggregate(
            checks=Sum("checks", filter=pruned),
            maintenance=Sum("maintenance", filter=pruned),
            failures=Sum("failures", filter=pruned),
            **ranks,
        )
        checks += (old["checks"] or 0) - (old["maintenance"] or 0)
        failures += old["failures"] or 0
        p50, p95 = old["p50"], old["p95"]
    else:
        timed = pings.filter(TIMED)
        timed_count = timed.count()
        p50, p95 = _percentile(timed, timed_count, 0.50), _percentile(timed, timed_count, 0.95)

    began = Q(started_at__gte=since, started_at__lte=now)
    ended = Q(ended_at__gte=since, ended_at__lte=now)
    incidents = Incident.objects.filter(began | ended, server=server).aggregate(
        started=Count("id", filter=began), mttr=Avg("duration_seconds", filter=ended)
    )
    started = incidents["started"]
    return UptimeReport(
        window=window,
        uptime_percentage=uptime_percentage(checks, 0, failures),
        checks=checks,
        failures=failures,
        response_time_p50=p50,
        response_time_p95=p95,
        incidents=started,
        mttr_seconds=None if incidents["mttr"] is None else round(incidents["mttr"], 3),
    )
