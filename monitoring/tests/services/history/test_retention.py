"""Retention and history: pruning keeps uptime right, the history endpoint answers its windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from api.serializers.results import HistorySerializer
from monitoring.choices import PingStatus, Status
from monitoring.models import HourlyRollup, PingResult, RawHistoryHorizon, StatusChange
from monitoring.services.history.charts import bucket_starts, history
from monitoring.services.history.retention import prune
from monitoring.services.history.rollups import recompute
from monitoring.services.history.uptime import uptime
from monitoring.tests.factories import make_ping, make_server

pytestmark = pytest.mark.django_db


def seed_history(server, now, days=89, every=timedelta(hours=3), gap=None):
    """``days`` of checks every ``every`` (none in ``gap``, a (start, end) pair): a failure every 7th,
    maintenance every 11th, times 10–100 ms."""
    rows, moment, n = [], now - timedelta(days=days), 0
    while moment < now:
        if gap and gap[0] <= moment < gap[1]:
            moment += every
            continue
        status = PingStatus.FAILURE if n % 7 == 0 else PingStatus.SUCCESS
        rows.append(
            PingResult(
                server=server,
                status=status,
                response_time=10.0 * (n % 10 + 1),
                maintenance=n % 11 == 0,
                check_timestamp=moment,
            )
        )
        moment, n = moment + every, n + 1
    PingResult.objects.bulk_create(rows)
    recompute(r.check_timestamp for r in rows)  # what the minute job has done meanwhile
    return rows


def report(client, server, window):
    body = client.get(f"/api/servers/{server.pk}/uptime/?window={window}").json()
    return body["checks"], body["failures"], body["uptime_percentage"]


def test_a_servers_uptime_is_the_same_before_and_after_pruning_to_30_days(alice, alice_client):
    server = make_server(alice)
    rows = seed_history(server, timezone.now())
    expected_90d = (
        sum(1 for r in rows if not r.maintenance),
        sum(1 for r in rows if not r.maintenance and r.status != PingStatus.SUCCESS),
    )
    before = {w: report(alice_client, server, w) for w in ("24h", "7d", "30d", "90d")}
    assert before["90d"][:2] == expected_90d

    out = StringIO()
    call_command("prune_results", "--days", "30", stdout=out)
    assert "Deleted" in out.getvalue() and "UTC:" in out.getvalue()

    cutoff = timezone.now() - timedelta(days=30)
    assert not PingResult.objects.filter(server=server, check_timestamp__lt=cutoff - timedelta(hours=1)).exists()
    assert PingResult.objects.filter(server=server).count() < len(rows) / 2
    assert {w: report(alice_client, server, w) for w in ("24h", "7d", "30d", "90d")} == before
    body = alice_client.get(f"/api/servers/{server.pk}/uptime/?window=90d").json()
    assert 10 <= body["response_time_p50"] <= 100 and 10 <= body["response_time_p95"] <= 100


def test_rollups_and_raw_rows_give_the_same_answer_where_both_exist(alice):
    server = make_server(alice)
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)  # on the hour: the window is whole hours
    seed_history(server, now, days=10, every=timedelta(minutes=7))
    raw = uptime(server, "7d", now=now)
    RawHistoryHorizon.advance(now + timedelta(hours=1))  # as if every raw row were pruned: rollups only
    rolled = uptime(server, "7d", now=now)
    assert raw["checks"] > 1000 and raw["failures"] > 100
    for exact in ("checks", "failures", "uptime_percentage", "incidents", "mttr_seconds"):
        assert rolled[exact] == raw[exact], exact
    # Percentiles from hourly rollups are an approximation of the raw ones.
    assert rolled["response_time_p50"] == pytest.approx(raw["response_time_p50"], abs=20)
    assert rolled["response_time_p95"] == pytest.approx(raw["response_time_p95"], abs=20)


def test_pruning_rolls_up_an_hour_the_job_never_saw_before_deleting_it(alice):
    server = make_server(alice)
    old = datetime(2026, 1, 5, 8, tzinfo=UTC)
    for minute in (1, 20, 40):
        make_ping(
            server,
            PingStatus.FAILURE if minute == 20 else PingStatus.SUCCESS,
            check_timestamp=old.replace(minute=minute),
        )
    assert not HourlyRollup.objects.exists()
    summary = prune(30, now=datetime(2026, 12, 1, tzinfo=UTC), batch_size=2)
    assert (summary.deleted, summary.hours, summary.batches) == (3, 1, 2)
    rollup = HourlyRollup.objects.get(server=server, hour=old)
    assert (rollup.checks, rollup.failures) == (3, 1)
    assert RawHistoryHorizon.current() == old + timedelta(hours=1)


def test_pruning_keeps_recent_results_and_the_status_changes_of_deleted_ones(alice):
    server = make_server(alice)
    now = timezone.now()
    old = make_ping(server, check_timestamp=now - timedelta(days=40))
    recent = make_ping(server, check_timestamp=now - timedelta(days=29))
    change = StatusChange.objects.create(server=server, previous_status=Status.UNKNOWN, status=Status.UP, ping=old)
    prune(30, now=now)
    assert list(PingResult.objects.values_list("pk", flat=True)) == [recent.pk]
    change.refresh_from_db()
    assert change.ping_id is None


def test_rollups_are_kept_for_ever_unless_told_otherwise(alice):
    server = make_server(alice)
    now = timezone.now()
    make_ping(server, check_timestamp=now - timedelta(days=400))
    prune(30, now=now)
    assert HourlyRollup.objects.count() == 1
    assert prune(30, now=now, rollup_days=365).rollups_deleted == 1


def test_prune_results_refuses_bad_days_and_does_nothing_when_retention_is_off(alice):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune_results", "--days", "0", stdout=StringIO())
    make_ping(make_server(alice), check_timestamp=timezone.now() - timedelta(days=90))
    out = StringIO()
    with override_settings(RAW_RESULT_RETENTION_DAYS=0):
        call_command("prune_results", stdout=out)
    assert "kept for ever" in out.getvalue() and PingResult.objects.count() == 1


def test_maintenance_checks_do_not_count_in_uptime(alice, alice_client):
    server = make_server(alice)
    now = timezone.now()
    make_ping(server, check_timestamp=now - timedelta(minutes=3))
    make_ping(server, PingStatus.FAILURE, maintenance=True, check_timestamp=now - timedelta(minutes=2))
    make_ping(server, PingStatus.FAILURE, check_timestamp=now - timedelta(minutes=1))
    body = alice_client.get(f"/api/servers/{server.pk}/uptime/").json()
    assert (body["checks"], body["failures"], body["uptime_percentage"]) == (2, 1, 50.0)


@pytest.mark.parametrize(
    ("window", "seconds", "count"), [("24h", 300, 288), ("7d", 3600, 168), ("30d", 3600, 720), ("90d", 86400, 90)]
)
def test_the_history_endpoint_answers_its_four_windows(alice, alice_client, window, seconds, count):
    server = make_server(alice)
    now = timezone.now()
    seed_history(
        server, now, days=95, every=timedelta(hours=5), gap=(now - timedelta(days=52), now - timedelta(days=50))
    )
    body = alice_client.get(f"/api/servers/{server.pk}/history/?window={window}").json()
    assert body["window"] == window and body["bucket_seconds"] == seconds
    buckets = body["buckets"]
    assert len(buckets) == count
    starts = [datetime.fromisoformat(b["start"].replace("Z", "+00:00")) for b in buckets]
    assert starts == sorted(starts) and all(
        (b - a).total_seconds() == seconds for a, b in zip(starts, starts[1:], strict=False)
    )
    assert starts[-1] <= timezone.now() < starts[-1] + timedelta(seconds=seconds)
    assert any(b["checks"] == 0 and b["uptime_percentage"] is None for b in buckets), "empty buckets are listed"
    total = sum(b["checks"] for b in buckets)
    in_window = PingResult.objects.filter(server=server, check_timestamp__gte=starts[0]).count()
    assert total == in_window and total > 0
    assert set(buckets[-1]) == {
        "start",
        "checks",
        "failures",
        "maintenance",
        "uptime_percentage",
        "response_time_avg",
        "response_time_p95",
        "response_time_max",
        "value_avg",
        "value_min",
        "value_max",
    }


def test_history_buckets_hold_their_checks(alice):
    server = make_server(alice)
    now = datetime(2026, 12, 1, 12, 2, tzinfo=UTC)
    make_ping(server, response_time=10.0, check_timestamp=datetime(2026, 12, 1, 11, 56, tzinfo=UTC))
    make_ping(server, response_time=30.0, check_timestamp=datetime(2026, 12, 1, 11, 58, tzinfo=UTC))
    make_ping(server, PingStatus.FAILURE, check_timestamp=datetime(2026, 12, 1, 11, 59, tzinfo=UTC))
    make_ping(server, maintenance=True, check_timestamp=datetime(2026, 12, 1, 12, 1, tzinfo=UTC))
    recompute([now - timedelta(hours=1), now])
    day = history(server, "24h", now=now)["buckets"]
    assert day[-1]["start"] == datetime(2026, 12, 1, 12, 0, tzinfo=UTC) and day[-1]["maintenance"] == 1
    assert day[-2] == {
        "start": datetime(2026, 12, 1, 11, 55, tzinfo=UTC),
        "checks": 3,
        "failures": 1,
        "maintenance": 0,
        "uptime_percentage": pytest.approx(66.667),
        "response_time_avg": 20.0,
        "response_time_p95": 30.0,
        "response_time_max": 30.0,
        "value_avg": None,
        "value_min": None,
        "value_max": None,
    }
    week = history(server, "7d", now=now)["buckets"]
    assert week[-2]["start"] == datetime(2026, 12, 1, 11, tzinfo=UTC)
    assert (week[-2]["checks"], week[-2]["failures"], week[-2]["response_time_max"]) == (3, 1, 30.0)
    assert week[-1]["uptime_percentage"] is None  # only a maintenance check
    assert bucket_starts("90d", now)[-1] == datetime(2026, 12, 1, tzinfo=UTC)


def test_the_history_endpoint_answers_what_its_schema_serializer_would(alice, alice_client):
    server = make_server(alice)
    now = timezone.now()
    # Both checks inside the current 5-minute bucket (so inside the current hour too), never after now.
    start = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    make_ping(server, response_time=12.5, check_timestamp=start)
    make_ping(server, PingStatus.FAILURE, check_timestamp=start + (now - start) / 2)
    recompute([now - timedelta(hours=1), now])
    for window in ("24h", "7d"):
        for _ in range(2):  # a bucket boundary may pass between the request and the direct call: once more
            body = alice_client.get(f"/api/servers/{server.pk}/history/?window={window}").json()
            expected = HistorySerializer(history(server, window)).data
            if body["buckets"][0]["start"] == expected["buckets"][0]["start"]:
                break
        assert body == expected
        assert [b["checks"] for b in body["buckets"] if b["checks"]] == [2]


def test_history_reads_pruned_hours_from_rollups(alice):
    server = make_server(alice)
    now = datetime(2026, 12, 1, 12, 2, tzinfo=UTC)
    three = datetime(2026, 12, 1, 3, tzinfo=UTC)
    make_ping(server, PingStatus.FAILURE, check_timestamp=three + timedelta(minutes=10))
    make_ping(server, check_timestamp=three + timedelta(minutes=40))
    recompute([three])
    RawHistoryHorizon.advance(three + timedelta(hours=1))
    PingResult.objects.all().delete()
    day = {b["start"]: b for b in history(server, "24h", now=now)["buckets"]}
    assert (day[three]["checks"], day[three]["failures"]) == (2, 1)
    assert sum(b["checks"] for b in day.values()) == 2


def test_history_answers_400_for_an_unknown_window_and_404_for_another_users_server(
    alice, alice_client, charlie_client
):
    server = make_server(alice)
    r = alice_client.get(f"/api/servers/{server.pk}/history/?window=1y")
    assert r.status_code == 400 and "window" in r.json()
    assert charlie_client.get(f"/api/servers/{server.pk}/history/?window=24h").status_code == 404
    assert alice_client.get(f"/api/servers/{server.pk}/history/").json()["window"] == "24h"


def test_every_windows_history_counts_checks_not_yet_rolled_up_as_uptime_does(alice, alice_client):
    """SPEC §23: four checks made just now, no rollup run: every window's chart counts them."""
    server = make_server(alice)
    now = timezone.now()
    make_ping(server, check_timestamp=now - timedelta(seconds=40))
    make_ping(server, PingStatus.FAILURE, check_timestamp=now - timedelta(seconds=30))
    make_ping(server, check_timestamp=now - timedelta(seconds=20))
    make_ping(server, PingStatus.FAILURE, maintenance=True, check_timestamp=now - timedelta(seconds=10))
    assert not HourlyRollup.objects.exists()
    for window in ("24h", "7d", "30d", "90d"):
        buckets = alice_client.get(f"/api/servers/{server.pk}/history/?window={window}").json()["buckets"]
        counted = sum(b["checks"] - b["maintenance"] for b in buckets)
        up = alice_client.get(f"/api/servers/{server.pk}/uptime/?window={window}").json()
        assert (sum(b["checks"] for b in buckets), counted) == (4, 3), window
        assert (counted, sum(b["failures"] for b in buckets)) == (up["checks"], up["failures"]), window


def test_history_reads_an_hour_rolled_up_before_it_ended_from_its_raw_rows(alice):
    """A rollup made while its hour was still running misses the checks after it: until it is
    recomputed once the hour is over, the chart counts that hour's raw rows."""
    server = make_server(alice)
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    now = hour + timedelta(minutes=30)
    make_ping(server, check_timestamp=hour + timedelta(minutes=5))
    recompute([hour])  # made mid-hour, at real time (after ``now``): not yet final
    HourlyRollup.objects.update(updated_at=hour + timedelta(minutes=10))
    make_ping(server, PingStatus.FAILURE, check_timestamp=hour + timedelta(minutes=20))
    for window in ("7d", "30d", "90d"):
        buckets = history(server, window, now=now)["buckets"]
        assert (sum(b["checks"] for b in buckets), sum(b["failures"] for b in buckets)) == (2, 1), window


def test_history_takes_finished_hours_from_their_rollups(alice):
    server = make_server(alice)
    now = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    ten = datetime(2026, 12, 1, 10, tzinfo=UTC)
    make_ping(server, check_timestamp=ten + timedelta(minutes=5))
    make_ping(server, check_timestamp=now - timedelta(minutes=1))
    recompute([ten])  # done now, long after 11:00: final
    HourlyRollup.objects.filter(hour=ten).update(checks=7)  # tell the rollup from the raw rows
    week = {b["start"]: b for b in history(server, "7d", now=now)["buckets"]}
    assert week[ten]["checks"] == 7 and week[datetime(2026, 12, 1, 12, tzinfo=UTC)]["checks"] == 1


def test_an_unfinished_rollup_before_final_ones_is_read_from_its_raw_rows(alice):
    server = make_server(alice)
    now = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    eight, ten = datetime(2026, 12, 1, 8, tzinfo=UTC), datetime(2026, 12, 1, 10, tzinfo=UTC)
    make_ping(server, check_timestamp=eight + timedelta(minutes=5))
    make_ping(server, check_timestamp=ten + timedelta(minutes=5))
    recompute([eight, ten])
    HourlyRollup.objects.filter(hour=eight).update(updated_at=eight + timedelta(minutes=10))  # made mid-hour
    make_ping(server, PingStatus.FAILURE, check_timestamp=eight + timedelta(minutes=50))
    HourlyRollup.objects.filter(hour=ten).update(checks=7)  # final: read, not its raw rows
    week = {b["start"]: b for b in history(server, "7d", now=now)["buckets"]}
    assert (week[eight]["checks"], week[eight]["failures"]) == (2, 1)
    assert week[ten]["checks"] == 7


def test_an_hour_another_pruner_rolled_up_is_not_rolled_up_again_from_what_is_left(alice):
    server = make_server(alice)
    old = datetime(2026, 1, 5, 8, tzinfo=UTC)
    for minute in (1, 20, 40):
        make_ping(server, check_timestamp=old.replace(minute=minute))
    recompute([old])
    RawHistoryHorizon.advance(old + timedelta(hours=1))  # the other pruner's rollup and horizon
    PingResult.objects.filter(check_timestamp=old.replace(minute=1)).delete()  # …and its first batch
    summary = prune(30, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert summary.deleted == 2 and not PingResult.objects.exists()
    assert HourlyRollup.objects.get(server=server, hour=old).checks == 3, "not recounted from the two left"
    assert RawHistoryHorizon.current() == old + timedelta(hours=1)
