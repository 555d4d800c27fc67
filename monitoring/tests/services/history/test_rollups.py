"""Hourly rollups: recomputed from raw rows, each result counted once, maintenance kept apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from monitoring.choices import PingStatus
from monitoring.models import HourlyRollup, PingResult
from monitoring.services.history.rollups import hours_between, nearest_rank, recompute
from monitoring.tasks.rollups import prune_step, rollup_step
from monitoring.tasks.scheduler import Scheduler
from monitoring.tests.factories import make_ping, make_server

pytestmark = pytest.mark.django_db

HOUR = datetime(2026, 11, 30, 10, tzinfo=UTC)


def seed_hour(server, hour=HOUR):
    """20 successes (10 … 200 ms), 2 failures, 1 timeout, 3 checks in maintenance (one failed)."""
    for n in range(20):
        make_ping(server, response_time=10.0 * (n + 1), check_timestamp=hour + timedelta(minutes=2 * n))
    make_ping(server, PingStatus.FAILURE, response_time=900.0, check_timestamp=hour + timedelta(minutes=41))
    make_ping(server, PingStatus.FAILURE, check_timestamp=hour + timedelta(minutes=42))
    make_ping(server, PingStatus.TIMEOUT, response_time=None, check_timestamp=hour + timedelta(minutes=43))
    make_ping(server, response_time=5000.0, maintenance=True, check_timestamp=hour + timedelta(minutes=44))
    make_ping(server, response_time=1.0, maintenance=True, check_timestamp=hour + timedelta(minutes=45))
    make_ping(server, PingStatus.FAILURE, maintenance=True, check_timestamp=hour + timedelta(minutes=46))


def test_a_rollup_counts_checks_failures_maintenance_and_response_times(alice):
    server = make_server(alice)
    seed_hour(server)
    make_ping(server, check_timestamp=HOUR + timedelta(hours=1))  # the next hour: not in this rollup
    assert recompute([HOUR + timedelta(minutes=30)]) == 1  # any moment of the hour names it
    r = HourlyRollup.objects.get(server=server, hour=HOUR)
    assert (r.checks, r.failures, r.maintenance, r.timed) == (26, 3, 3, 20)
    assert (r.response_time_min, r.response_time_max) == (10.0, 200.0)
    assert r.response_time_avg == pytest.approx(105.0)
    # Nearest rank over 10, 20, … 200: rank ceil(0.5·20) = 10 → 100, rank 19 → 190.
    assert (r.response_time_p50, r.response_time_p95) == (100.0, 190.0)


def test_recomputing_counts_each_result_once_and_picks_up_late_results(alice):
    server = make_server(alice)
    seed_hour(server)
    recompute([HOUR])
    recompute([HOUR])
    assert HourlyRollup.objects.get(server=server, hour=HOUR).checks == 26
    make_ping(server, PingStatus.ERROR, check_timestamp=HOUR + timedelta(minutes=59))  # committed late
    recompute([HOUR])
    r = HourlyRollup.objects.get(server=server, hour=HOUR)
    assert (r.checks, r.failures) == (27, 4)
    assert HourlyRollup.objects.count() == 1


def test_each_server_gets_its_own_rollup(alice, charlie):
    a, b = make_server(alice), make_server(charlie)
    seed_hour(a)
    make_ping(b, PingStatus.FAILURE, check_timestamp=HOUR + timedelta(minutes=5))
    recompute([HOUR])
    assert HourlyRollup.objects.get(server=a).checks == 26
    rb = HourlyRollup.objects.get(server=b)
    assert (rb.checks, rb.failures, rb.timed, rb.response_time_p95) == (1, 1, 0, None)


def test_the_rollup_step_catches_up_a_day_then_does_each_hour_once_it_is_final(alice):
    # Changed with SPEC §23: history reads an unfinished hour's raw rows, so the step rolls up
    # finished hours only, remembering where it got to in the shared cache (cron runs share it).
    server = make_server(alice)
    now = HOUR + timedelta(hours=2, minutes=3)  # 12:03: 11:00–12:00 is over but not final yet
    make_ping(server, check_timestamp=now - timedelta(hours=20))
    make_ping(server, check_timestamp=HOUR + timedelta(hours=1, minutes=30))
    assert rollup_step(now) == 24
    assert HourlyRollup.objects.filter(server=server).count() == 1, "the current hour is not over"
    HourlyRollup.objects.all().delete()
    assert rollup_step(now) == 0, "later runs do only the hours finished since"
    assert rollup_step(now + timedelta(hours=1)) == 1
    assert HourlyRollup.objects.filter(server=server).count() == 1


def test_a_lost_place_costs_the_rollup_step_an_hour_not_a_day(alice):
    from django.core.cache import cache

    from monitoring.tasks.rollups import NEXT_HOUR_KEY

    server = make_server(alice)
    now = HOUR + timedelta(hours=2, minutes=10)  # 12:10: 11:00–12:00 is final
    make_ping(server, check_timestamp=HOUR + timedelta(hours=1, minutes=30))
    assert rollup_step(now) == 24
    cache.delete(NEXT_HOUR_KEY)  # the database cache culled it
    make_ping(server, check_timestamp=HOUR + timedelta(hours=2, minutes=30))
    assert rollup_step(now + timedelta(hours=1)) == 2, "the last hour rolled up, once more, and the new one"
    assert HourlyRollup.objects.get(server=server, hour=HOUR + timedelta(hours=2)).checks == 1
    assert rollup_step(now + timedelta(days=3)) == 24, "after an outage: a day per run, from where it stopped"
    assert rollup_step(now + timedelta(days=3)) == 24


def test_the_scheduler_registers_the_rollup_and_prune_jobs():
    jobs = {job_id: seconds for job_id, _, seconds in Scheduler().jobs()}
    assert jobs["rollups"] == 60 and jobs["prune"] == 3600  # asks hourly; prunes once a day


def test_prune_step_keeps_everything_when_retention_is_zero(alice):
    server = make_server(alice)
    make_ping(server, check_timestamp=timezone.now() - timedelta(days=400))
    with override_settings(RAW_RESULT_RETENTION_DAYS=0):
        assert prune_step() == 0 and PingResult.objects.count() == 1
    with override_settings(RAW_RESULT_RETENTION_DAYS=30):
        assert prune_step() == 1 and PingResult.objects.count() == 0


def test_hours_between_names_every_hour_once():
    assert hours_between(HOUR + timedelta(minutes=59), HOUR + timedelta(hours=2, minutes=1)) == [
        HOUR,
        HOUR + timedelta(hours=1),
        HOUR + timedelta(hours=2),
    ]
    assert nearest_rank([], 0.5) is None and nearest_rank([1.0, 2.0, 3.0], 0.95) == 3.0


def test_response_times_come_back_as_written(alice):
    ping = make_ping(make_server(alice), response_time=123.456)
    assert PingResult.objects.get(pk=ping.pk).response_time == 123.456
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'monitoring_pingresult' AND column_name = 'response_time'"
            )
            assert cursor.fetchone()[0] == "real"
