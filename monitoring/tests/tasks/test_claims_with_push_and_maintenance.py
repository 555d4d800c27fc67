"""The engine's leases next to push monitors and maintenance windows (issue 7 and issue 10b together).

Results with no lease (a push, a missed push deadline, a window starting) go through the same
``record()`` as claimed checks, but never move ``next_check_at`` or touch a lease; a claimed
check recorded while its server is in a window is still stored as a maintenance check.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.choices import PingStatus, Protocol, Status
from monitoring.models import MaintenanceWindow, PingResult, Server
from monitoring.services.engine.push import record_push
from monitoring.services.engine.recording import CheckResult, record
from monitoring.services.engine.transitions import ProbeOutcome
from monitoring.tasks import claims
from monitoring.tasks.maintenance import maintenance_step
from monitoring.tasks.push import push_step
from monitoring.tests.alerting import make_server

pytestmark = pytest.mark.django_db


def scheduler_columns(server: Server) -> tuple:
    server.refresh_from_db()
    return server.next_check_at, server.lease_owner, server.lease_until


def test_pushes_and_missed_deadlines_leave_the_schedule_and_lease_alone(alice):
    server = Server.objects.create(owner=alice, name="job", protocol=Protocol.PUSH, check_interval=60, grace_seconds=0)
    before = scheduler_columns(server)
    now = timezone.now()
    record_push(server, now=now)
    assert scheduler_columns(server) == before
    assert push_step(now + timedelta(seconds=61)), "the deadline was missed"
    assert scheduler_columns(server) == before
    assert PingResult.objects.filter(server=server).count() == 2
    later = now + timedelta(days=1)
    assert claims.claim_due(later, owner="engine") == [], "the engine never claims a push monitor"
    assert scheduler_columns(server) == before


def test_a_window_start_keeps_a_running_checks_lease_and_its_result_is_a_maintenance_check(alice):
    server = make_server(alice, check_interval=60)
    now = timezone.now()
    [claimed] = claims.claim_due(now, owner="engine")
    due = claimed.next_check_at
    window = MaintenanceWindow.objects.create(
        owner=alice,
        name="deploy",
        starts_at=now - timedelta(seconds=1),
        ends_at=now + timedelta(minutes=30),
    )
    window.servers.set([server])
    assert maintenance_step(now), "the window start was recorded"
    server.refresh_from_db()
    assert server.status == Status.MAINTENANCE
    assert (server.next_check_at, server.lease_owner) == (due, "engine"), "the window start kept the lease"

    outcome = ProbeOutcome(PingStatus.FAILURE, response_time=3.0, status_code=500, error_message="HTTP 500")
    next_due = claimed.next_due(due, now, 60)
    [rec] = record([CheckResult(claimed, outcome, now, due_at=due, lease_owner="engine", next_due_at=next_due)])
    assert rec.ping is not None and rec.ping.maintenance
    assert rec.state.status == Status.MAINTENANCE
    assert scheduler_columns(server) == (next_due, "", None), "the claimed check moved on and ended its lease"
