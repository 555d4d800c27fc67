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
from typing import TypedDict

from django.db.models import Avg, Count, Q, Sum
from django.utils import timezone

from monitoring.models import HourlyRollup, Incident, PingResult, RawHistoryHorizon, Server
from monitoring.services.history.charts import WINDOWS, uptime_percentage, weighted_rank
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


def uptime(server: Server, window: str, now: datetime | None = None, location: str | None = None) -> UptimeReport:
    """Report on ``server`` over the last ``window`` (a key of WINDOWS).

    ``checks`` are the window's checks outside maintenance windows, ``failures`` the failed ones.
    With ``location`` (a slug, SPEC §20) only the checks run from there count, read from the raw
    rows alone: rollups are of all locations together, so hours already pruned count nothing.
    Incidents are the server's, whatever the location.

    1. Count checks and failures in the raw rows from the later of the window's start and the
       raw-history horizon (one aggregate on ping_server_time_idx).
    2. If the window starts before the horizon, add the rollups of the whole hours in between,
       and take p50/p95 from the window's rollups; otherwise read them from the raw rows.
    3. Count the incidents that began in the window, and average the durations of those
       that ended in it (mean time to recovery, also when one began before the window).
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
        rollups = HourlyRollup.objects.filter(server=server, hour__gte=since, hour__lte=now)
        old = rollups.filter(hour__lt=raw_from).aggregate(
            checks=Sum("checks"), maintenance=Sum("maintenance"), failures=Sum("failures")
        )
        checks += (old["checks"] or 0) - (old["maintenance"] or 0)
        failures += old["failures"] or 0
        samples = list(rollups.filter(timed__gt=0).values_list("response_time_p50", "response_time_p95", "timed"))
        p50 = weighted_rank(((p, n) for p, _, n in samples), 0.50)
        p95 = weighted_rank(((p, n) for _, p, n in samples), 0.95)
    else:
        timed = pings.filter(TIMED)
        timed_count = timed.count()
        p50, p95 = _percentile(timed, timed_count, 0.50), _percentile(timed, timed_count, 0.95)

    incidents = Incident.objects.filter(server=server)
    started = incidents.filter(started_at__gte=since, started_at__lte=now).count()
    repaired = incidents.filter(ended_at__gte=since, ended_at__lte=now).aggregate(mttr=Avg("duration_seconds"))
    return UptimeReport(
        window=window,
        uptime_percentage=uptime_percentage(checks, 0, failures),
        checks=checks,
        failures=failures,
        response_time_p50=p50,
        response_time_p95=p95,
        incidents=started,
        mttr_seconds=None if repaired["mttr"] is None else round(repaired["mttr"], 3),
    )
