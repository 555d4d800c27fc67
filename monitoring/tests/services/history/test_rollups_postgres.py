"""On PostgreSQL, two rollup jobs at once (two schedulers) still count each result once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conftest import require_postgres
from monitoring.choices import PingStatus
from monitoring.models import HourlyRollup, PingResult, Server
from monitoring.services.history.rollups import hours_between, recompute
from tests.concurrency import at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

START = datetime(2026, 11, 30, 0, tzinfo=UTC)


def test_concurrent_recomputes_count_each_result_once(alice):
    require_postgres()
    servers = Server.objects.bulk_create(
        [Server(owner=alice, team=alice.personal_team, name=f"s{n}", host="example.com") for n in range(300)]
    )
    rows = [
        PingResult(
            server=server,
            status=PingStatus.FAILURE if minute % 10 == 0 else PingStatus.SUCCESS,
            response_time=float(minute + 1),
            check_timestamp=START + timedelta(minutes=minute),
        )
        for server in servers
        for minute in range(0, 180, 3)
    ]
    PingResult.objects.bulk_create(rows, batch_size=5000)
    hours = hours_between(START, START + timedelta(hours=2))

    def job(_: int) -> None:
        for _ in range(3):
            recompute(hours)

    # A deadlock or a unique violation would be among the errors.
    assert at_once(job, threads=4, timeout=120) == []
    assert HourlyRollup.objects.count() == 300 * 3, "one rollup per server and hour"
    totals = {(r.server_id, r.hour): (r.checks, r.failures) for r in HourlyRollup.objects.all()}
    assert set(totals.values()) == {(20, 2)}, "each hour: 20 checks, 2 failures, whatever ran at once"
    assert sum(c for c, _ in totals.values()) == len(rows)
