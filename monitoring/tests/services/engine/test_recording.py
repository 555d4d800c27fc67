"""services.engine.recording.record: a batch writes exactly the rows one-at-a-time recording writes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.choices import PingStatus, Status
from monitoring.models import Incident, NotificationDelivery, PingResult, Server, ServerStatus, StatusChange
from monitoring.services.engine import checks
from monitoring.services.engine.recording import CheckResult, record
from monitoring.services.engine.transitions import ProbeOutcome
from monitoring.services.history import metrics
from monitoring.tests.alerting import make_config

OK = ProbeOutcome(PingStatus.SUCCESS, response_time=20.0, status_code=200)
SLOW = ProbeOutcome(PingStatus.SUCCESS, response_time=900.0, status_code=200)
FAIL = ProbeOutcome(PingStatus.FAILURE, response_time=5.0, status_code=500, error_message="HTTP 500")
TIMEOUT = ProbeOutcome(PingStatus.TIMEOUT, error_message="no response within 5s")

PAUSED_AT = timezone.now().replace(microsecond=0) - timedelta(days=1)
# (server name, outcome) in the order they finish; "flappy" appears twice in one round.
ROUNDS = [
    [("a", OK), ("b", FAIL), ("c", SLOW), ("d", FAIL), ("flappy", FAIL), ("flappy", OK), ("held", FAIL)],
    [("a", FAIL), ("b", FAIL), ("c", OK), ("d", TIMEOUT), ("flappy", FAIL), ("held", OK)],
    [("a", OK), ("b", OK), ("c", SLOW), ("d", OK), ("flappy", OK), ("held", FAIL)],
]


def make_fleet(owner: User, prefix: str) -> dict[str, Server]:
    fleet = {}
    for name, extra in [
        ("a", {}),
        ("b", {"retries": 2}),
        ("c", {"degraded_threshold_ms": 500}),
        ("d", {"retries": 1}),
        ("flappy", {}),
        ("held", {}),
    ]:
        server = Server.objects.create(
            owner=owner, name=f"{prefix}{name}", protocol="http", host="127.0.0.1", port=80, **extra
        )
        make_config(server, recipient=f"http://127.0.0.1:9/{prefix}{name}")
        make_config(server, recipient=f"http://127.0.0.1:9/{prefix}{name}/2", notify_on_degraded=True)
        fleet[name] = server
    checks.pause(fleet["held"])
    # Both fleets paused "at" the same instant, so only what the checks write can differ.
    ServerStatus.objects.filter(server=fleet["held"]).update(last_status_change=PAUSED_AT)
    return fleet


def rows(prefix: str) -> dict[str, Any]:
    """Every row the engine writes for a fleet, without ids, servers named by their short name."""

    def name(server_id: int) -> str:
        return Server.objects.get(pk=server_id).name.removeprefix(prefix)

    servers = Server.objects.filter(name__startswith=prefix)
    ids = list(servers.values_list("pk", flat=True))
    return {
        "servers": sorted((s.name.removeprefix(prefix), s.status) for s in servers),
        "pings": sorted(
            (name(p.server_id), p.status, p.response_time, p.status_code, p.error_message, p.check_timestamp)
            for p in PingResult.objects.filter(server_id__in=ids)
        ),
        "states": sorted(
            (
                name(s.server_id),
                s.status,
                s.uptime_percentage,
                s.total_checks,
                s.failed_checks,
                s.last_check,
                s.last_response_time,
                s.consecutive_failures,
                s.message,
                s.last_status_change,
            )
            for s in ServerStatus.objects.filter(server_id__in=ids)
        ),
        "changes": sorted(
            (
                name(c.server_id),
                c.previous_status,
                c.status,
                c.message,
                c.changed_at,
                c.ping.status if c.ping else None,
            )
            for c in StatusChange.objects.filter(server_id__in=ids, ping__isnull=False)
        ),
        "incidents": sorted(
            (name(i.server_id), i.started_at, i.ended_at, i.first_error, i.duration_seconds, i.opening_change.status)
            for i in Incident.objects.filter(server_id__in=ids)
        ),
        "deliveries": sorted(
            (
                name(d.change.server_id),
                d.config.recipient.removeprefix(f"http://127.0.0.1:9/{prefix}"),
                d.event,
                d.status,
                d.next_attempt_at,
                d.last_error,
                d.incident is not None,
            )
            for d in NotificationDelivery.objects.filter(config__servers__in=ids)
        ),
    }


def test_a_batch_writes_exactly_the_rows_of_one_at_a_time_recording(alice):
    one, batch = make_fleet(alice, "one-"), make_fleet(alice, "batch-")
    start = timezone.now().replace(microsecond=0)
    for n, round_ in enumerate(ROUNDS):
        at = start + timedelta(minutes=20 * n)
        for name, outcome in round_:
            checks.record_outcome(one[name], outcome, now=at)
        record([CheckResult(batch[name], outcome, at) for name, outcome in round_])

    expected, got = rows("one-"), rows("batch-")
    assert got == expected
    # The scenario exercises every branch: DOWN with alerts, recovery, degraded, retries, held.
    assert {c[2] for c in got["changes"]} >= {Status.UP, Status.DOWN, Status.DEGRADED}
    assert {d[2] for d in got["deliveries"]} >= {"down", "recovery", "degraded"}
    assert ("held", Status.PAUSED) in got["servers"]
    assert any(s[0] == "b" and s[7] == 0 for s in got["states"])


def test_record_returns_one_record_per_result_in_order(alice):
    fleet = make_fleet(alice, "r-")
    now = timezone.now()
    out = record([CheckResult(fleet["a"], OK, now), CheckResult(fleet["d"], FAIL, now)])
    assert [r.ping.server_id for r in out] == [fleet["a"].pk, fleet["d"].pk]
    assert out[0].state.status == Status.UP and out[0].change is not None
    assert out[1].state.status == Status.DOWN and out[1].change.status == Status.DOWN
    assert out[1].change.ping_id == out[1].ping.pk
    assert Server.objects.get(pk=fleet["d"].pk).status == Status.DOWN


def test_a_batch_without_changes_costs_the_same_statements_for_one_or_fifty_servers(alice, monkeypatch):
    # One metrics shard for every batch: a shard's first use creates its counter rows.
    monkeypatch.setattr(metrics.random, "randrange", lambda n: 0)
    servers = [
        Server.objects.create(owner=alice, name=f"q{n}", protocol="http", host="127.0.0.1", port=80) for n in range(50)
    ]
    now = timezone.now()
    record([CheckResult(s, OK, now) for s in servers])  # first checks: changes to UP

    def statements(batch: list[Server]) -> int:
        with CaptureQueriesContext(connection) as ctx:
            record([CheckResult(s, OK, now) for s in batch])
        return len(ctx.captured_queries)

    assert statements(servers[:1]) == statements(servers)


def test_a_batch_of_servers_checked_from_no_other_location_reads_no_location_rows(alice):
    """Whether a server has ``ServerLocation`` rows is read with its lock: none, no statement for them."""
    from monitoring.models import ProbeLocation, ServerLocation

    servers = [
        Server.objects.create(owner=alice, name=f"l{n}", protocol="http", host="127.0.0.1", port=80) for n in range(3)
    ]
    table = connection.ops.quote_name(ServerLocation._meta.db_table)

    def location_reads(batch: list[Server]) -> int:
        with CaptureQueriesContext(connection) as ctx:
            record([CheckResult(s, OK, timezone.now()) for s in batch])
        return sum(1 for q in ctx.captured_queries if f"FROM {table} INNER JOIN" in q["sql"])

    assert location_reads(servers) == 0
    ServerLocation.objects.create(server=servers[1], location=ProbeLocation.objects.create(name="Oslo", slug="osl"))
    assert location_reads(servers) == 1


def test_an_empty_batch_writes_nothing(alice):
    assert record([]) == []
    assert PingResult.objects.count() == 0


@pytest.mark.parametrize("outcome", [OK, FAIL])
def test_lateness_is_start_minus_due(alice, outcome):
    server = Server.objects.create(owner=alice, name="late", protocol="http", host="127.0.0.1", port=80)
    due = timezone.now()
    result = CheckResult(
        server, outcome, due + timedelta(seconds=2), due_at=due, started_at=due + timedelta(seconds=0.25)
    )
    assert result.lateness == pytest.approx(0.25)
    assert CheckResult(server, outcome, due).lateness is None
