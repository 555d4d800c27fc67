"""GET /api/servers/{id}/uptime/: share of good checks, percentiles, incidents and MTTR."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.choices import PingStatus, Status
from monitoring.models import Incident, StatusChange
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

    def incident(began, ended=None):
        opening = StatusChange.objects.create(
            server=server, previous_status=Status.UP, status=Status.DOWN, changed_at=now - began
        )
        row = Incident(server=server, started_at=now - began, opening_change=opening)
        if ended is not None:
            row.close(now - ended, None)
        row.save()

    incident(timedelta(hours=30), timedelta(hours=20))  # began before the window, ended in it: 10 h
    incident(timedelta(hours=5), timedelta(hours=4))  # 1 h
    incident(timedelta(minutes=10))  # still open
    body = alice_client.get(f"/api/servers/{server.pk}/uptime/").json()
    assert body["window"] == "24h"
    assert body["incidents"] == 2
    assert body["mttr_seconds"] == pytest.approx((10 * 3600 + 3600) / 2)


def test_the_incidents_of_a_real_outage_are_counted(alice, alice_client, http_target):
    http_target.set("/", 200)
    server = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port)
    alice_client.post(f"/api/servers/{server.pk}/check/")
    http_target.set("/", 500)
    alice_client.post(f"/api/servers/{server.pk}/check/")
    http_target.set("/", 200)
    alice_client.post(f"/api/servers/{server.pk}/check/")
    body = alice_client.get(f"/api/servers/{server.pk}/uptime/").json()
    assert body["incidents"] == 1 and body["mttr_seconds"] is not None
    assert body["checks"] == 3 and body["failures"] == 1


def test_an_empty_window_has_no_percentage(alice, alice_client):
    body = alice_client.get(f"/api/servers/{make_server(alice).pk}/uptime/?window=90d").json()
    assert body["checks"] == 0 and body["uptime_percentage"] is None and body["response_time_p50"] is None


def test_an_unknown_window_is_a_400_and_another_users_server_a_404(alice, alice_client, charlie_client):
    server = make_server(alice)
    r = alice_client.get(f"/api/servers/{server.pk}/uptime/?window=1y")
    assert r.status_code == 400 and "window" in r.json()
    assert charlie_client.get(f"/api/servers/{server.pk}/uptime/").status_code == 404
