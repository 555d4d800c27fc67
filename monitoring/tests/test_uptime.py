"""GET /api/servers/{id}/uptime/: share of good checks, percentiles, incidents and MTTR."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.choices import PingStatus, Status
from monitoring.models import StatusChange
from monitoring.tests.factories import make_ping, make_server

pytestmark = pytest.mark.django_db


def test_uptime_counts_the_windows_checks_and_percentiles(alice, alice_client):
    server = make_server(alice)
    now = timezone.now()
    for n, rt in enumerate([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]):
        make_ping(server, response_time=rt, check_timestamp=now - timedelta(minutes=n + 1))
    make_ping(server, PingStatus.FAILURE, response_time=5000, check_timestamp=now - timedelta(minutes=30))
    make_ping(server, PingStatus.TIMEOUT, response_time=None, check_timestamp=now - timedelta(minutes=31))
    make_ping(server, PingStatus.FAILURE, check_timestamp=now - timedelta(days=3))  # outside 24h

    body = alice_client.get(f"/api/servers/{server.pk}/uptime/?window=24h").json()
    assert body["window"] == "24h" and body["checks"] == 12 and body["failures"] == 2
    assert body["uptime_percentage"] == pytest.approx(100 * 10 / 12, abs=0.001)
    assert body["response_time_p50"] == 50 and body["response_time_p95"] == 100
    week = alice_client.get(f"/api/servers/{server.pk}/uptime/?window=7d").json()
    assert week["checks"] == 13 and week["failures"] == 3


def test_incidents_and_mean_time_to_recovery(alice, alice_client):
    server = make_server(alice)
    now = timezone.now()

    def change(prev, new, ago):
        StatusChange.objects.create(server=server, previous_status=prev, status=new, changed_at=now - ago)

    change(Status.UP, Status.DOWN, timedelta(hours=30))  # began before the window…
    change(Status.DOWN, Status.UP, timedelta(hours=20))  # …and ended inside it: 10 h
    change(Status.UP, Status.DOWN, timedelta(hours=5))
    change(Status.DOWN, Status.UP, timedelta(hours=4))  # 1 h
    change(Status.UP, Status.DOWN, timedelta(minutes=10))  # still open
    body = alice_client.get(f"/api/servers/{server.pk}/uptime/").json()
    assert body["window"] == "24h"
    assert body["incidents"] == 2
    assert body["mttr_seconds"] == pytest.approx((10 * 3600 + 3600) / 2)


def test_an_empty_window_has_no_percentage(alice, alice_client):
    body = alice_client.get(f"/api/servers/{make_server(alice).pk}/uptime/?window=90d").json()
    assert body["checks"] == 0 and body["uptime_percentage"] is None and body["response_time_p50"] is None


def test_an_unknown_window_is_a_400_and_another_users_server_a_404(alice, alice_client, charlie_client):
    server = make_server(alice)
    r = alice_client.get(f"/api/servers/{server.pk}/uptime/?window=1y")
    assert r.status_code == 400 and "window" in r.json()
    assert charlie_client.get(f"/api/servers/{server.pk}/uptime/").status_code == 404
