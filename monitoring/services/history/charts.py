"""A server's history in buckets for charts: raw rows for 5-minute buckets, rollups beyond.

``GET /api/servers/{id}/history/?window=`` (SPEC §9). Every window counts the same checks as
``services.history.uptime`` (SPEC §23): hours already pruned from their rollups, the rest from the raw
rows, except that 7d, 30d and 90d also take each finished hour from its final rollup (at most
2,160 rows of one server through its (server, hour) index) and read raw rows only after the
last of them, usually the current hour.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from django.db.models import Q
from django.utils import timezone

from monitoring.choices import PingStatus
from monitoring.models import HourlyRollup, PingResult, RawHistoryHorizon, Server
from monitoring.services.history.rollups import FINAL_SECONDS, HOUR, EpochSeconds, nearest_rank

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
BUCKET_SECONDS = {"24h": 300, "7d": 3600, "30d": 3600, "90d": 86400}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
# Unfinished rollups among final ones (a rollup job that stopped mid-hour) read one hour of raw
# rows each; beyond this many, one range from the first of them is the cheaper query.
MAX_UNFINISHED = 24
# What a bucket reads of each hourly rollup, as plain tuples (no model instances: 2,160 for 90d).
ROLLUP_FIELDS = (
    "checks",
    "failures",
    "maintenance",
    "timed",
    "response_time_avg",
    "response_time_p95",
    "response_time_max",
    "valued",
    "value_min",
    "value_avg",
    "value_max",
)


class HistoryBucket(TypedDict):
    start: datetime
    checks: int
    failures: int
    maintenance: int
    uptime_percentage: float | None
    response_time_avg: float | None
    response_time_p95: float | None
    response_time_max: float | None
    # A push monitor's values (SPEC §19), of every result that carried one; None without any.
    value_avg: float | None
    value_min: float | None
    value_max: float | None


# Every field of a bucket without checks but its start (most of a new server's, or a location's).
EMPTY = {
    "checks": 0,
    "failures": 0,
    "maintenance": 0,
    "uptime_percentage": None,
    "response_time_avg": None,
    "response_time_p95": None,
    "response_time_max": None,
    "value_avg": None,
    "value_min": None,
    "value_max": None,
}


class HistoryReport(TypedDict):
    window: str
    bucket_seconds: int
    buckets: list[HistoryBucket]


def uptime_percentage(checks: int, maintenance: int, failures: int) -> float | None:
    """Share of the checks outside maintenance that did not fail, 0–100; None without any."""
    counted = checks - maintenance
    return round(100.0 * (counted - failures) / counted, 3) if counted > 0 else None


def weighted_rank(samples: Iterable[tuple[float, int]], q: float) -> float | None:
    """Nearest-rank percentile over (value, weight) pairs: an hourly p95 stands for ``timed`` checks.

    Exact when each pair is one check; from hourly rollups it is an approximation.
    """
    ordered = sorted((v, w) for v, w in samples if v is not None and w > 0)
    total = sum(w for _, w in ordered)
    if not total:
        return None
    rank, seen = max(math.ceil(q * total), 1), 0
    for value, weight in ordered:
        seen += weight
        if seen >= rank:
            return value
    return ordered[-1][0]


@dataclass(slots=True)
class Bucket:
    """Counts and response times gathered into one bucket, from raw rows or rollups."""

    checks: int = 0
    failures: int = 0
    maintenance: int = 0
    timed: int = 0
    total_time: float = 0.0
    maximum: float | None = None
    times: list[float] = field(default_factory=list)  # raw rows: exact p95
    p95s: list[tuple[float, int]] = field(default_factory=list)  # rollups: weighted approximation
    valued: int = 0
    value_total: float = 0.0
    value_min: float | None = None
    value_max: float | None = None

    def add_ping(self, status: str, response_time: float | None, maintenance: bool, value: float | None) -> None:
        if value is not None:
            self._value(1, value, value, value)
        self.checks += 1
        if maintenance:
            self.maintenance += 1
        elif status != PingStatus.SUCCESS:
            self.failures += 1
        elif response_time is not None:
            self._time(response_time, response_time, 1)
            self.times.append(response_time)

    def add_rollup(self, checks: int, failures: int, maintenance: int, timed: int, *figures: float | None) -> None:
        """One hour's rollup: its counts, its response time avg, p95 and max, then its values'
        count, min, avg and max (ROLLUP_FIELDS)."""
        average, p95, maximum, valued, value_min, value_avg, value_max = figures
        if valued and value_avg is not None:
            self._value(int(valued), value_avg * valued, value_min, value_max)
        self.checks += checks
        self.failures += failures
        self.maintenance += maintenance
        if timed and average is not None:
            self._time(average * timed, maximum, timed)
            self.p95s.append((p95, timed))  # type: ignore[arg-type]

    def _time(self, total: float, maximum: float | None, count: int) -> None:
        self.timed += count
        self.total_time += total
        if maximum is not None and (self.maximum is None or maximum > self.maximum):
            self.maximum = maximum

    def _value(self, count: int, total: float, minimum: float | None, maximum: float | None) -> None:
        self.valued += count
        self.value_total += total
        if minimum is not None and (self.value_min is None or minimum < self.value_min):
            self.value_min = minimum
        if maximum is not None and (self.value_max is None or maximum > self.value_max):
            self.value_max = maximum

    def p95(self) -> float | None:
        if not self.p95s:
            return nearest_rank(sorted(self.times), 0.95)
        if not self.times and len(self.p95s) == 1:  # one hourly rollup (7d, 30d): its own p95
            value, timed = self.p95s[0]
            return value if timed > 0 else None
        return weighted_rank([*self.p95s, *((t, 1) for t in self.times)], 0.95)

    def as_dict(self, start: datetime) -> HistoryBucket:
        return HistoryBucket(
            start=start,
            checks=self.checks,
            failures=self.failures,
            maintenance=self.maintenance,
            uptime_percentage=uptime_percentage(self.checks, self.maintenance, self.failures),
            response_time_avg=round(self.total_time / self.timed, 3) if self.timed else None,
            response_time_p95=self.p95(),
            response_time_max=self.maximum,
            value_avg=round(self.value_total / self.valued, 6) if self.valued else None,
            value_min=self.value_min,
            value_max=self.value_max,
        )


def bucket_starts(window: str, now: datetime) -> list[datetime]:
    """The window's bucket starts, oldest first, aligned to the UTC epoch; the last holds ``now``."""
    step = BUCKET_SECONDS[window]
    count = int(WINDOWS[window].total_seconds()) // step
    last = EPOCH + timedelta(seconds=int((now - EPOCH).total_seconds()) // step * step)
    return [last - timedelta(seconds=step * n) for n in range(count - 1, -1, -1)]


def history(server: Server, window: str, now: datetime | None = None, location: str | None = None) -> HistoryReport:
    """``server``'s checks over ``window`` in buckets (BUCKET_SECONDS), empty ones included.

    With ``location`` (a slug, SPEC §20) only the checks run from there, from the raw rows alone:
    hourly rollups are of all locations together, so hours already pruned are empty buckets.

    1. Lay out the buckets, oldest first; a bucket is made when a check lands in it.
    2. Read the window's hourly rollups, oldest first. Usable are those of hours pruned already
       (before the raw-history horizon) and, for hourly or daily buckets, final ones (made
       after their hour was over, ``rollups.is_final``). The raw rows take over after the last
       usable one (never before the horizon); the hours of unusable rollups before that point
       are read from raw rows too (all from the first of them when there are many).
    3. Add the usable rollups before that point, each into the bucket of its hour's start.
    4. Add those raw rows one by one (exact p95 per bucket): checks not yet rolled up count
       as soon as they are recorded, as in ``uptime``.

    Times are read as whole seconds (``EpochSeconds``) and a bucket is found by its offset from
    the first: for 30 days that spares parsing ~1,500 timestamps and as much datetime arithmetic.
    """
    now = now or timezone.now()
    step = BUCKET_SECONDS[window]
    starts = bucket_starts(window, now)
    first = starts[0]
    base = _seconds(first)
    buckets: list[Bucket | None] = [None] * len(starts)

    def bucket_at(seconds: int) -> Bucket | None:
        offset = (seconds - base) // step
        if offset < 0 or offset >= len(buckets):
            return None
        target = buckets[offset]
        if target is None:
            target = buckets[offset] = Bucket()
        return target

    raw_from = RawHistoryHorizon.current()
    horizon = None if raw_from is None else _seconds_after(raw_from)
    rollups = (
        []
        if location is not None
        else list(
            HourlyRollup.objects.filter(server=server, hour__gte=first, hour__lte=now)
            .order_by("hour")
            .values_list(EpochSeconds("hour"), EpochSeconds("updated_at"), *ROLLUP_FIELDS)
        )
    )
    hourly = step >= HOUR.total_seconds()

    def usable(hour: int, updated_at: int) -> bool:
        return (horizon is not None and hour < horizon) or (hourly and updated_at >= hour + FINAL_SECONDS)

    used = [row for row in rollups if usable(row[0], row[1])]
    raw_start = max(first, _moment(used[-1][0]) + HOUR if used else first, raw_from or first)
    before = _seconds_after(raw_start)  # an hour starts before raw_start when its second is less
    # Rollups made before their hour was over, among final ones: those hours from raw rows too.
    unfinished = [hour for hour, updated_at, *_ in rollups if hour < before and not usable(hour, updated_at)]
    if len(unfinished) > MAX_UNFINISHED:
        raw_start, unfinished = _moment(unfinished[0]), []
        before = _seconds_after(raw_start)
    for hour, _, *figures in used:
        target = bucket_at(hour) if hour < before else None
        if target is not None:
            target.add_rollup(*figures)
    raw = Q(check_timestamp__gte=raw_start)
    for hour in unfinished:
        moment = _moment(hour)
        raw |= Q(check_timestamp__gte=moment, check_timestamp__lt=moment + HOUR)
    pings = PingResult.objects.checks().filter(raw, server=server, check_timestamp__lte=now)
    if location is not None:
        pings = pings.at_location(location)
    for seconds, status, response_time, maintenance, value in pings.values_list(
        EpochSeconds("check_timestamp"), "status", "response_time", "maintenance", "value"
    ):
        target = bucket_at(seconds)
        if target is not None:
            target.add_ping(status, response_time, maintenance, value)
    return HistoryReport(
        window=window,
        bucket_seconds=step,
        buckets=[
            HistoryBucket(start=start, **EMPTY) if bucket is None else bucket.as_dict(start)  # type: ignore[typeddict-item]
            for start, bucket in zip(starts, buckets, strict=True)
        ],
    )


def _seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, rounded down (as ``EpochSeconds`` reads them)."""
    return (moment - EPOCH) // SECOND


def _seconds_after(moment: datetime) -> int:
    """The least whole second not before ``moment``: a whole second is before ``moment`` exactly
    when it is less than this."""
    return -((EPOCH - moment) // SECOND)


def _moment(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)
