"""history's buckets equal, field for field and in the same order, those of the algorithm they replace.

``reference_history`` below is ``charts.history`` as it was before it read times as whole seconds,
indexed buckets by offset and made a bucket only where a check landed; the randomised rollups and
raw rows (ties, nulls, zero weights, maintenance, pushed values, unfinished rollups, a horizon)
must give the same report in every window, with and without ``?location=``, and the same JSON.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F, Q
from django.utils import timezone

from monitoring.choices import PingStatus
from monitoring.models import HourlyRollup, PingResult, RawHistoryHorizon, Server
from monitoring.services.history.charts import (
    BUCKET_SECONDS,
    EPOCH,
    MAX_UNFINISHED,
    ROLLUP_FIELDS,
    WINDOWS,
    HistoryBucket,
    HistoryReport,
    history,
    uptime_percentage,
    weighted_rank,
)
from monitoring.services.history.rollups import HOUR, is_final, nearest_rank
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 4, 3, 41, 17, 250000, tzinfo=UTC)
TIMES = [None, 0.1, 12.34, 12.34, 50.0, 99.5, 3.333333, 1234.567]


@dataclass
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
        exact = sorted(self.times)
        if not self.p95s:
            return nearest_rank(exact, 0.95)
        return weighted_rank([*self.p95s, *((t, 1) for t in exact)], 0.95)

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


def reference_history(
    server: Server, window: str, now: datetime | None = None, location: str | None = None
) -> HistoryReport:
    """``server``'s checks over ``window`` in buckets (BUCKET_SECONDS), empty ones included.

    With ``location`` (a slug, SPEC §20) only the checks run from there, from the raw rows alone:
    hourly rollups are of all locations together, so hours already pruned are empty buckets.

    1. Lay out the buckets, oldest first.
    2. Read the window's hourly rollups, oldest first. Usable are those of hours pruned already
       (before the raw-history horizon) and, for hourly or daily buckets, final ones (made
       after their hour was over, ``rollups.is_final``). The raw rows take over after the last
       usable one (never before the horizon); the hours of unusable rollups before that point
       are read from raw rows too (all from the first of them when there are many).
    3. Add the usable rollups before that point, each into the bucket of its hour's start.
    4. Add those raw rows one by one (exact p95 per bucket): checks not yet rolled up count
       as soon as they are recorded, as in ``uptime``.
    """
    now = now or timezone.now()
    step = BUCKET_SECONDS[window]
    starts = bucket_starts(window, now)
    buckets = {start: Bucket() for start in starts}
    first = starts[0]

    def bucket_of(moment: datetime) -> Bucket | None:
        offset = int((moment - first).total_seconds()) // step
        return buckets.get(first + timedelta(seconds=offset * step)) if offset >= 0 else None

    raw_from = RawHistoryHorizon.current()
    rollups = (
        []
        if location is not None
        else list(
            HourlyRollup.objects.filter(server=server, hour__gte=first, hour__lte=now)
            .order_by("hour")
            .values_list("hour", "updated_at", *ROLLUP_FIELDS)
        )
    )
    hourly = step >= HOUR.total_seconds()

    def usable(hour: datetime, updated_at: datetime) -> bool:
        return (raw_from is not None and hour < raw_from) or (hourly and is_final(hour, updated_at))

    used = [(hour, figures) for hour, updated_at, *figures in rollups if usable(hour, updated_at)]
    raw_start = max(first, used[-1][0] + HOUR if used else first, raw_from or first)
    # Rollups made before their hour was over, among final ones: those hours from raw rows too.
    unfinished = [hour for hour, updated_at, *_ in rollups if hour < raw_start and not usable(hour, updated_at)]
    if len(unfinished) > MAX_UNFINISHED:
        raw_start, unfinished = unfinished[0], []
    for hour, figures in used:
        target = bucket_of(hour) if hour < raw_start else None
        if target is not None:
            target.add_rollup(*figures)
    raw = Q(check_timestamp__gte=raw_start)
    for hour in unfinished:
        raw |= Q(check_timestamp__gte=hour, check_timestamp__lt=hour + HOUR)
    pings = PingResult.objects.checks().filter(raw, server=server, check_timestamp__lte=now)
    if location is not None:
        pings = pings.at_location(location)
    for moment, status, response_time, maintenance, value in pings.values_list(
        "check_timestamp", "status", "response_time", "maintenance", "value"
    ):
        target = bucket_of(moment)
        if target is not None:
            target.add_ping(status, response_time, maintenance, value)
    return HistoryReport(
        window=window, bucket_seconds=step, buckets=[buckets[start].as_dict(start) for start in starts]
    )


def seed(server: Server, rng: random.Random) -> None:
    """Rollups of most hours of the last 92 days (final, unfinished, or right at the edge of final)
    and raw rows of the last 12 days, some from another location."""
    hour = datetime(2026, 12, 4, 3, tzinfo=UTC) - timedelta(days=92)
    rollups = []
    while hour <= NOW:
        if rng.random() < 0.8:
            checks = rng.choice([0, 1, 12, 60])
            failures = rng.randint(0, checks)
            maintenance = rng.randint(0, checks - failures)
            valued = rng.choice([0, 0, 3])
            rollups.append(
                HourlyRollup(
                    server=server,
                    hour=hour,
                    checks=checks,
                    failures=failures,
                    maintenance=maintenance,
                    timed=rng.choice([0, 1, 5, checks]),
                    response_time_avg=rng.choice(TIMES),
                    response_time_p95=rng.choice(TIMES),
                    response_time_max=rng.choice(TIMES),
                    valued=valued,
                    value_min=rng.choice([None, -1.5, 2.0]) if valued else None,
                    value_avg=rng.choice([None, 2.25, 7.1]) if valued else None,
                    value_max=rng.choice([None, 9.0, 1e9]) if valued else None,
                )
            )
        hour += HOUR
    HourlyRollup.objects.bulk_create(rollups)
    # updated_at: after the hour was final, right at (final) or just before (not final) the edge,
    # or too early; auto_now would set it to the present, so set it with update().
    written = {
        timedelta(hours=3): [],
        timedelta(hours=1, minutes=6): [],
        timedelta(hours=1, minutes=5, seconds=59, microseconds=999999): [],
        timedelta(minutes=20): [],
    }
    for rollup in rollups:
        written[rng.choices(list(written), weights=[90, 4, 4, 2])[0]].append(rollup.hour)
    for after, hours in written.items():
        HourlyRollup.objects.filter(server=server, hour__in=hours).update(updated_at=F("hour") + after)
    pings = []
    for _ in range(rng.choice([0, 50, 600])):
        status = rng.choice([PingStatus.SUCCESS, PingStatus.SUCCESS, PingStatus.FAILURE, PingStatus.TIMEOUT])
        pings.append(
            PingResult(
                server=server,
                status=status,
                response_time=rng.choice(TIMES),
                maintenance=rng.random() < 0.1,
                value=rng.choice([None, None, 0.5, -3.0, 42.0]),
                check_timestamp=NOW
                - timedelta(seconds=rng.randint(0, 12 * 86400), microseconds=rng.randint(0, 999999)),
            )
        )
    PingResult.objects.bulk_create(pings)


def in_order(report: HistoryReport) -> list[object]:
    """The report with each bucket's fields as (key, value) pairs: equal only in the same order."""
    return [report["window"], report["bucket_seconds"], [list(b.items()) for b in report["buckets"]]]


@pytest.mark.parametrize("seed_value", range(6))
def test_history_equals_the_reference_in_every_window(alice, seed_value):
    rng = random.Random(seed_value)
    server = make_server(alice)
    seed(server, rng)
    seed(make_server(alice), random.Random(99))  # another server's rows are never read
    horizon = rng.choice([None, NOW - timedelta(days=2), NOW - timedelta(days=10, minutes=17, microseconds=5)])
    if horizon is not None:
        RawHistoryHorizon.advance(horizon)
    for window in WINDOWS:
        for location in (None, "local", "elsewhere"):
            expected = reference_history(server, window, now=NOW, location=location)
            assert in_order(history(server, window, now=NOW, location=location)) == in_order(expected), (
                seed_value,
                window,
                location,
            )


def test_many_unfinished_rollups_read_the_raw_rows_from_the_first(alice):
    server = make_server(alice)
    rng = random.Random(7)
    seed(server, rng)
    early = HourlyRollup.objects.filter(server=server, hour__gte=NOW - timedelta(days=3))
    early.update(updated_at=F("hour") + timedelta(minutes=1))  # more than MAX_UNFINISHED of them
    assert early.count() > MAX_UNFINISHED
    for window in ("7d", "30d", "90d"):
        assert in_order(history(server, window, now=NOW)) == in_order(reference_history(server, window, now=NOW))


@pytest.mark.parametrize("window", list(WINDOWS))
def test_the_history_endpoint_answers_the_same_bytes(alice, alice_client, window):
    from functools import partial
    from unittest import mock

    from rest_framework.renderers import JSONRenderer

    from monitoring import payloads

    server = make_server(alice)
    seed(server, random.Random(3))
    RawHistoryHorizon.advance(NOW - timedelta(days=5))
    with mock.patch("api.views.history", partial(history, now=NOW)):
        response = alice_client.get(f"/api/servers/{server.pk}/history/?window={window}")
    report = reference_history(server, window, now=NOW)
    buckets = [{**bucket, "start": payloads.iso(bucket["start"])} for bucket in report["buckets"]]
    assert response.status_code == 200
    assert response.content == JSONRenderer().render({**report, "buckets": buckets})
    assert json.loads(response.content)["bucket_seconds"] == BUCKET_SECONDS[window]
