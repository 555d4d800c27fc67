"""The ``maintenance`` event (SPEC §18): one message when a window starts for a server, one when it ends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring.choices import AlertEvent, NotificationType
from monitoring.models import NotificationConfig
from monitoring.services.alerts.delivery import send_pending
from monitoring.services.engine import checks
from monitoring.tasks.maintenance import maintenance_step
from monitoring.tests.alerting import go_down, go_up, make_config, make_server
from monitoring.tests.services.engine.test_maintenance import AFTER, BEFORE, INSIDE, START, patch_night
from tests.targets import LocalHTTPServer

pytestmark = pytest.mark.django_db


def test_a_window_starting_and_ending_sends_one_message_each(alice):
    with LocalHTTPServer() as receiver:
        receiver.set("/hook", 200)
        server = make_server(alice)
        make_config(server, recipient=receiver.url("/hook"))
        make_config(server, recipient=receiver.url("/off"), enabled=False)
        patch_night(alice, servers=[server])
        go_up(server, BEFORE)
        maintenance_step(START + timedelta(seconds=1))
        go_down(server, INSIDE)  # checks inside the window send nothing more
        go_up(server, AFTER)
        go_up(server, AFTER + timedelta(minutes=1))
        send_pending()
    bodies = [r.json() for r in receiver.requests]
    assert [b["event"] for b in bodies] == ["maintenance_start", "maintenance_end"]
    assert [r.headers["X-PulseGuard-Event"] for r in receiver.requests] == ["maintenance_start", "maintenance_end"]
    assert bodies[0]["status"] == "maintenance" and "entered maintenance" in bodies[0]["message"]
    assert bodies[1]["previous_status"] == "maintenance" and "left maintenance" in bodies[1]["message"]


def test_a_down_after_the_window_sends_its_end_and_its_down(alice):
    with LocalHTTPServer() as receiver:
        receiver.set("/hook", 200)
        server = make_server(alice)
        make_config(server, recipient=receiver.url("/hook"))
        patch_night(alice, servers=[server])
        go_up(server, BEFORE)
        go_down(server, INSIDE)
        go_down(server, AFTER)  # one change carries a maintenance_end and a DOWN
        send_pending()
    assert [r.json()["event"] for r in receiver.requests] == ["maintenance_start", "maintenance_end", "down"]


def test_the_configs_taking_maintenance_are_the_enabled_ones_and_a_silenced_server_sends_none(alice):
    server = make_server(alice)
    on = make_config(server, NotificationType.WEBHOOK, notify_on_failure=False, notify_on_recovery=False)
    make_config(server, recipient="http://127.0.0.1:9/off", enabled=False)
    configs = NotificationConfig.objects.of_servers([server.pk])[server.pk]
    assert [c for c in configs if c.wants(AlertEvent.MAINTENANCE_START)] == [on]
    assert [c for c in configs if c.wants(AlertEvent.DOWN)] == []
    server.notifications = False
    checks.save_edit(server, {"notifications"})
    patch_night(alice, servers=[server])
    go_up(server, BEFORE)
    go_down(server, INSIDE)
    assert not server.notification_configs.filter(deliveries__isnull=False).exists()
