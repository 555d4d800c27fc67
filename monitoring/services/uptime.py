"""Uptime over a window: share of checks that did not fail, response-time percentiles, incidents."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TypedDict

from django.db.models import Avg, Count, Q
from django.utils import timezone

from monitoring.choices import PingStatus
from monitoring.models import Incident, PingResult, Server

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}


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


def uptime(server: Server, window: str, now: datetime | None = None) -> UptimeReport:
    """Report on ``server`` over the last ``window`` (a key of WINDOWS).

    1. Count the window's checks and failures outside maintenance (one aggregate on ping_server_time_idx).
    2. Read p50/p95 of successful checks' response times.
    3. Count the incidents that began in the window, and average the durations of those
       that ended in it (mean time to recovery, also when one began before the window).
    """
    now = now or timezone.now()
    since = now - WINDOWS[window]
    # Checks taken in a maintenance window count neither way (SPEC §12).
    pings = PingResult.objects.filter(
        server=server, check_timestamp__gte=since, check_timestamp__lte=now, maintenance=False
    )
    totals = pings.aggregate(checks=Count("id"), failures=Count("id", filter=~Q(status=PingStatus.SUCCESS)))
    timed = pings.filter(response_time__isnull=False, status=PingStatus.SUCCESS)
    timed_count = timed.count()

    incidents = Incident.objects.filter(server=server)
    started = incidents.filter(started_at__gte=since, started_at__lte=now).count()
    repaired = incidents.filter(ended_at__gte=since, ended_at__lte=now).aggregate(mttr=Avg("duration_seconds"))
    checks, failures = totals["checks"], totals["failures"]
    return UptimeReport(
        window=window,
        uptime_percentage=round(100.0 * (checks - failures) / checks, 3) if checks else None,
        checks=checks,
        failures=failures,
        response_time_p50=_percentile(timed, timed_count, 0.50),
        response_time_p95=_percentile(timed, timed_count, 0.95),
        incidents=started,
        mttr_seconds=None if repaired["mttr"] is None else round(repaired["mttr"], 3),
    )
