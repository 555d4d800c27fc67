"""Checks inside maintenance windows: stored, quiet, out of uptime, and the way out (SPEC §12)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from monitoring.choices import AlertEvent, DeliveryStatus, PingStatus, Status
from monitoring.models import Incident, MaintenanceWindow, NotificationDelivery, PingResult, StatusChange
from monitoring.services.history.uptime import uptime
from monitoring.services.live import publish
from monitoring.tasks.maintenance import maintenance_step
from monitoring.tests.alerting import go_down, go_up, make_config, make_server

pytestmark = pytest.mark.django_db

TUESDAY = 1
# Tuesday 2026-12-01, 02:00-04:00 Europe/Berlin (CET) is 01:00-03:00 UTC.
BEFORE = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
INSIDE = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
AFTER = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def status_alerts():
    """Deliveries about the status (not the maintenance_start/_end of SPEC §18, tested in test_rules)."""
    return NotificationDelivery.objects.exclude(event__in=[AlertEvent.MAINTENANCE_START, AlertEvent.MAINTENANCE_END])


def patch_night(owner, *, servers=(), tags=()) -> MaintenanceWindow:
    window = MaintenanceWindow.objects.create(
        owner=owner,
        name="patch night",
        tags=list(tags),
        recurrence="weekly",
        weekdays=[TUESDAY],
        start_time=time(2, 0),
        duration_minutes=120,
        timezone="Europe/Berlin",
    )
    window.servers.set(servers)
    return window


def test_a_weekly_window_keeps_a_failing_server_quiet_and_out_of_its_uptime(alice):
    """Done when: a weekly maintenance window keeps a failing server quiet and out of its uptime."""
    server = make_server(alice, retries=1)
    make_config(server)
    patch_night(alice, servers=[server])
    for minute in range(3):
        go_up(server, BEFORE - timedelta(minutes=3 - minute))
    for minute in range(10):
        go_down(server, INSIDE + timedelta(minutes=minute))
    state = server.server_status
    state.refresh_from_db()
    assert state.status == Status.MAINTENANCE and state.message == "maintenance: patch night"
    assert PingResult.objects.filter(server=server, maintenance=True, status=PingStatus.FAILURE).count() == 10
    assert not status_alerts().exists() and not Incident.objects.exists()
    report = uptime(server, "24h", now=INSIDE + timedelta(minutes=30))
    assert (report["checks"], report["failures"], report["uptime_percentage"]) == (3, 0, 100.0)
    assert state.uptime_percentage == 100.0 and state.total_checks == 3
    assert [(c.previous_status, c.status) for c in StatusChange.objects.filter(server=server).order_by("id")] == [
        (Status.UNKNOWN, Status.UP),
        (Status.UP, Status.MAINTENANCE),
    ]


def test_a_server_reached_through_its_tags_is_in_maintenance_too(alice, charlie):
    tagged = make_server(alice, tags=["prod"])
    others = make_server(charlie, tags=["prod"])
    patch_night(alice, tags=["prod"])
    assert go_down(tagged, INSIDE).state.status == Status.MAINTENANCE
    assert go_down(others, INSIDE).state.status == Status.DOWN, "another owner's window reaches nothing of charlie's"


def test_the_maintenance_step_enters_at_the_windows_start_once_and_publishes_a_status_event(
    alice, monkeypatch, django_capture_on_commit_callbacks
):
    server = make_server(alice)
    go_up(server, BEFORE)
    patch_night(alice, servers=[server])
    published = []
    monkeypatch.setattr(publish, "publish_status", lambda s, state: published.append((s.pk, state.status)))
    assert maintenance_step(START - timedelta(seconds=1)) == []
    with django_capture_on_commit_callbacks(execute=True):
        [rec] = maintenance_step(START + timedelta(seconds=1))
    assert rec.ping is None and rec.change.status == Status.MAINTENANCE and rec.change.ping is None
    assert published == [(server.pk, Status.MAINTENANCE)]
    assert maintenance_step(START + timedelta(seconds=3)) == [], "already in maintenance"
    assert StatusChange.objects.filter(server=server, status=Status.MAINTENANCE).count() == 1
    assert not PingResult.objects.filter(server=server, check_timestamp__gte=START).exists()


def test_the_maintenance_step_leaves_paused_servers_alone(alice):
    from monitoring.services.engine import checks

    server = make_server(alice)
    patch_night(alice, servers=[server])
    checks.pause(server)
    assert maintenance_step(INSIDE) == []


def test_after_the_window_a_down_alerts_as_usual(alice):
    server = make_server(alice)
    make_config(server)
    patch_night(alice, servers=[server])
    go_up(server, BEFORE)
    go_down(server, INSIDE)
    rec = go_down(server, AFTER)
    assert (rec.change.previous_status, rec.change.status) == (Status.MAINTENANCE, Status.DOWN)
    assert list(status_alerts().values_list("event", "status")) == [(AlertEvent.DOWN, DeliveryStatus.PENDING)]
    assert Incident.objects.open().filter(server=server).exists()


def test_after_the_window_an_up_sends_nothing(alice):
    server = make_server(alice)
    make_config(server)
    patch_night(alice, servers=[server])
    go_up(server, BEFORE)
    go_down(server, INSIDE)
    rec = go_up(server, AFTER)
    assert (rec.change.previous_status, rec.change.status) == (Status.MAINTENANCE, Status.UP)
    assert not status_alerts().exists()


def test_a_down_alerted_before_the_window_gets_its_recovery_when_first_up_after_it(alice):
    server = make_server(alice)
    make_config(server)
    patch_night(alice, servers=[server])
    go_down(server, BEFORE)
    NotificationDelivery.objects.update(status=DeliveryStatus.SENT, delivered_at=BEFORE)
    go_down(server, INSIDE)
    go_up(server, AFTER)
    events = list(status_alerts().order_by("id").values_list("event", "status"))
    assert events == [(AlertEvent.DOWN, DeliveryStatus.SENT), (AlertEvent.RECOVERY, DeliveryStatus.PENDING)]
    assert not Incident.objects.open().exists()


def test_a_down_not_yet_sent_when_the_window_starts_never_goes_out(alice):
    server = make_server(alice)
    make_config(server)
    patch_night(alice, servers=[server])
    go_down(server, BEFORE)  # queued, its receiver not reached yet
    maintenance_step(START + timedelta(seconds=1))
    down = NotificationDelivery.objects.get(event=AlertEvent.DOWN)
    assert down.status == DeliveryStatus.SUPPRESSED and "maintenance" in down.last_error
    go_up(server, AFTER)
    recovery = NotificationDelivery.objects.get(event=AlertEvent.RECOVERY)
    assert recovery.status == DeliveryStatus.SUPPRESSED, "no recovery for a DOWN that never went out"


def test_a_disabled_window_changes_nothing(alice):
    server = make_server(alice)
    window = patch_night(alice, servers=[server])
    window.enabled = False
    window.save()
    assert go_down(server, INSIDE).state.status == Status.DOWN
    assert maintenance_step(INSIDE) == []
