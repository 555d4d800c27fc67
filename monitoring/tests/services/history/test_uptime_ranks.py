"""uptime's p50/p95 from rollups, ranked by the database, equal the Python nearest-rank they replace."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitoring.models import HourlyRollup, RawHistoryHorizon
from monitoring.services.history.charts import weighted_rank
from monitoring.services.history.uptime import uptime
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 4, 3, 30, tzinfo=UTC)
# Few distinct values, so ties are common; 12.34 and 0.1 are not exact in a PostgreSQL real.
VALUES = [None, 0.1, 1.5, 12.34, 12.34, 100.0, 250.75, 3.333333, 1e6]


def reference(server, since: datetime, raw_from: datetime) -> tuple[int, int, float | None, float | None]:
    """Checks, failures, p50 and p95 of the rollups in the window, as uptime read them before."""
    rows = HourlyRollup.objects.filter(server=server, hour__gte=since, hour__lte=NOW)
    old = [r for r in rows if r.hour < raw_from]
    samples = list(rows.filter(timed__gt=0).values_list("response_time_p50", "response_time_p95", "timed"))
    return (
        sum(r.checks - r.maintenance for r in old),
        sum(r.failures for r in old),
        weighted_rank(((p, n) for p, _, n in samples), 0.50),
        weighted_rank(((p, n) for _, p, n in samples), 0.95),
    )


def seed(server, rng: random.Random, hours: int) -> None:
    rollups = []
    for n in range(hours):
        checks = rng.choice([0, 1, 12, 60])
        failures = rng.randint(0, checks)
        maintenance = rng.randint(0, checks - failures)
        rollups.append(
            HourlyRollup(
                server=server,
                hour=datetime(2026, 12, 4, tzinfo=UTC) - timedelta(hours=n + 1),
                checks=checks,
                failures=failures,
                maintenance=maintenance,
                timed=rng.choice([0, 0, 1, 2, 7, 60]),
                response_time_p50=rng.choice(VALUES),
                response_time_p95=rng.choice(VALUES + [round(rng.uniform(0, 500), 3)]),
            )
        )
    HourlyRollup.objects.bulk_create(rollups)


@pytest.mark.parametrize("seed_value", range(12))
def test_rollup_percentiles_equal_the_python_nearest_rank(alice, seed_value):
    rng = random.Random(seed_value)
    server = make_server(alice)
    seed(server, rng, hours=rng.choice([0, 1, 2, 5, 40, 300]))
    seed(make_server(alice), rng, hours=50)  # another server's rollups are not read
    raw_from = NOW - timedelta(hours=rng.choice([2, 30, 200, 2000]))
    RawHistoryHorizon.advance(raw_from)
    for window, span in (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("90d", timedelta(days=90))):
        if raw_from <= NOW - span:
            continue  # the window is all raw rows: percentiles from them, not from rollups
        report = uptime(server, window, now=NOW)
        checks, failures, p50, p95 = reference(server, NOW - span, raw_from)
        assert (report["checks"], report["failures"]) == (checks, failures)
        assert (report["response_time_p50"], report["response_time_p95"]) == (p50, p95), (seed_value, window)


@pytest.mark.parametrize(
    "pairs, expected",
    [
        ([], (None, None)),
        ([(None, 5), (None, 1)], (None, None)),  # no value
        ([(10.0, 0), (20.0, 0)], (None, None)),  # no weight
        ([(10.0, 0), (20.0, 1)], (20.0, 20.0)),  # a weightless value never answers, even the least
        ([(30.0, 1), (10.0, 1), (20.0, 1), (None, 9)], (20.0, 30.0)),
        ([(10.0, 2), (10.0, 2), (20.0, 1)], (10.0, 20.0)),  # ties: the rank lands among equal values
        ([(10.0, 19), (20.0, 1)], (10.0, 10.0)),  # rank ceil(0.95·20) = 19 exactly
        ([(10.0, 18), (20.0, 2)], (10.0, 20.0)),
    ],
)
def test_rollup_percentiles_at_the_edges(alice, pairs, expected):
    server = make_server(alice)
    HourlyRollup.objects.bulk_create(
        HourlyRollup(
            server=server,
            hour=datetime(2026, 12, 3, tzinfo=UTC) - timedelta(hours=n),
            timed=weight,
            response_time_p50=value,
            response_time_p95=value,
        )
        for n, (value, weight) in enumerate(pairs)
    )
    RawHistoryHorizon.advance(NOW)
    report = uptime(server, "90d", now=NOW)
    assert (report["response_time_p50"], report["response_time_p95"]) == expected
    assert expected == (weighted_rank(pairs, 0.50), weighted_rank(pairs, 0.95))
