"""Uptime over a window: share of checks that did not fail, response-time percentiles, incidents."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TypedDict

from django.db.models import Count, Q
from django.utils import timezone

from monitoring.choices import PingStatus, Status
from monitoring.models import PingResult, Server, StatusChange

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

    1. Count the window's checks and failures (one aggregate on ping_server_time_idx).
    2. Read p50/p95 of successful checks' response times.
    3. Walk the status changes from the last one before the window: each change to DOWN in
       the window is an incident; each change away from DOWN ends one (its duration counts
       toward the mean time to recovery, also when it began before the window).
    """
    now = now or timezone.now()
    since = now - WINDOWS[window]
    pings = PingResult.objects.filter(server=server, check_timestamp__gte=since, check_timestamp__lte=now)
    totals = pings.aggregate(checks=Count("id"), failures=Count("id", filter=~Q(status=PingStatus.SUCCESS)))
    timed = pings.filter(response_time__isnull=False, status=PingStatus.SUCCESS)
    timed_count = timed.count()

    history = StatusChange.objects.filter(server=server).order_by("changed_at", "id")
    before = history.filter(changed_at__lt=since).values_list("status", "changed_at").last()
    down_since = before[1] if before and before[0] == Status.DOWN else None
    incidents, repairs = 0, []
    for status, changed_at in history.filter(changed_at__gte=since, changed_at__lte=now).values_list(
        "status", "changed_at"
    ):
        if status == Status.DOWN and down_since is None:
            down_since = changed_at
            incidents += 1
        elif status != Status.DOWN and down_since is not None:
            repairs.append((changed_at - down_since).total_seconds())
            down_since = None
    checks, failures = totals["checks"], totals["failures"]
    return UptimeReport(
        window=window,
        uptime_percentage=round(100.0 * (checks - failures) / checks, 3) if checks else None,
        checks=checks,
        failures=failures,
        response_time_p50=_percentile(timed, timed_count, 0.50),
        response_time_p95=_percentile(timed, timed_count, 0.95),
        incidents=incidents,
        mttr_seconds=round(sum(repairs) / len(repairs), 3) if repairs else None,
    )
