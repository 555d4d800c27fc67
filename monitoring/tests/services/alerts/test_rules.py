"""When to alert: status changes become incidents and delivery rows (SPEC §7), no sending here."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus, NotificationType, Status
from monitoring.models import Incident, NotificationDelivery, ServerStatus, StatusChange
from monitoring.services.alerts.delivery import send_pending
from monitoring.services.engine import checks, recording
from monitoring.tests.alerting import go_down, go_up, make_config, make_server


def rows(**filters) -> list[tuple[str, str]]:
    return list(NotificationDelivery.objects.filter(**filters).order_by("id").values_list("event", "status"))


def test_it_queues_one_down_and_one_recovery_per_config_and_records_the_incident(alice):
    server = make_server(alice)
    hook = make_config(server)
    mail = make_config(server, NotificationType.EMAIL, "ops@example.com")
    start = timezone.now() - timedelta(minutes=5)
    go_up(server, start)
    down = go_down(server, start + timedelta(minutes=1)).change
    up = go_up(server, start + timedelta(minutes=3, seconds=30)).change

    for config in (hook, mail):
        assert rows(config=config) == [("down", "pending"), ("recovery", "pending")]
    assert set(NotificationDelivery.objects.values_list("change_id", flat=True)) == {down.pk, up.pk}
    incident = Incident.objects.get(server=server)
    assert (incident.opening_change, incident.closing_change) == (down, up)
    assert incident.first_error == "HTTP 500: oops"
    assert incident.duration_seconds == 150 and incident.ended_at == up.changed_at
    assert set(NotificationDelivery.objects.values_list("incident_id", flat=True)) == {incident.pk}


def test_a_first_success_of_an_unknown_server_queues_nothing(alice):
    server = make_server(alice)
    make_config(server)
    go_up(server)
    assert StatusChange.objects.filter(server=server, status=Status.UP).exists()
    assert NotificationDelivery.objects.count() == 0
    assert Incident.objects.count() == 0


def test_a_new_server_that_is_down_at_once_alerts(alice):
    server = make_server(alice)
    make_config(server)
    go_down(server)
    assert rows() == [("down", "pending")]


def test_failures_below_retries_queue_nothing_until_the_server_is_down(alice):
    server = make_server(alice, retries=3)
    make_config(server)
    go_up(server)
    go_down(server)
    go_down(server)
    assert NotificationDelivery.objects.count() == 0 and Incident.objects.count() == 0
    go_down(server)
    assert rows() == [("down", "pending")]
    assert Incident.objects.open().count() == 1


def test_a_disabled_config_gets_nothing(alice):
    server = make_server(alice)
    off = make_config(server, enabled=False)
    on = make_config(server, NotificationType.EMAIL, "ops@example.com")
    go_up(server)
    go_down(server)
    go_up(server)
    assert rows(config=off) == []
    assert rows(config=on) == [("down", "pending"), ("recovery", "pending")]


def test_notify_on_recovery_off_gets_the_down_but_no_recovery(alice):
    server = make_server(alice)
    config = make_config(server, notify_on_recovery=False)
    go_up(server)
    go_down(server)
    go_up(server)
    assert rows(config=config) == [("down", "pending")]


def test_notify_on_failure_off_gets_no_down_but_the_recovery(alice):
    server = make_server(alice)
    config = make_config(server, notify_on_failure=False)
    go_up(server)
    go_down(server)
    assert rows(config=config) == []
    go_up(server)
    assert rows(config=config) == [("recovery", "pending")]


def test_a_config_created_while_the_server_was_down_gets_no_recovery(alice):
    server = make_server(alice)
    before = make_config(server, recipient="http://127.0.0.1:9/before")
    go_down(server)
    during = make_config(server, recipient="http://127.0.0.1:9/during")
    go_up(server)
    assert rows(config=before) == [("down", "pending"), ("recovery", "pending")]
    assert rows(config=during) == [("recovery", "suppressed")]
    assert "added during the outage" in NotificationDelivery.objects.get(config=during).last_error


def test_the_servers_notifications_switch_off_queues_nothing_but_still_records_the_incident(alice):
    server = make_server(alice, notifications=False)
    make_config(server)
    go_up(server)
    go_down(server)
    go_up(server)
    assert NotificationDelivery.objects.count() == 0
    assert Incident.objects.filter(server=server, ended_at__isnull=False).count() == 1


def test_flapping_inside_the_cooldown_sends_one_down_and_one_recovery(alice):
    server = make_server(alice)
    config = make_config(server, cooldown_minutes=15)
    start = timezone.now() - timedelta(minutes=10)
    go_up(server, start)
    for minute in range(6):  # down, up, down, up, down, up: a minute apart
        (go_down if minute % 2 == 0 else go_up)(server, start + timedelta(minutes=minute + 1))

    assert rows(config=config) == [
        ("down", "pending"),
        ("recovery", "pending"),
        ("down", "suppressed"),
        ("recovery", "suppressed"),
        ("down", "suppressed"),
        ("recovery", "suppressed"),
    ]
    assert Incident.objects.filter(server=server).count() == 3
    assert Incident.objects.open().count() == 0


def test_a_down_inside_the_cooldown_is_sent_when_it_ends_if_still_down(alice, http_target):
    http_target.set("/hook", 204, "")
    server = make_server(alice)
    config = make_config(server, recipient=http_target.url("/hook"), cooldown_minutes=15)
    start = timezone.now() - timedelta(minutes=10)
    go_up(server, start)
    go_down(server, start + timedelta(minutes=1))
    go_up(server, start + timedelta(minutes=2))
    assert send_pending(now=start + timedelta(minutes=2)) == 2
    go_down(server, start + timedelta(minutes=3))  # and it stays down

    held = NotificationDelivery.objects.filter(config=config).order_by("-id").first()
    assert (held.event, held.status) == (AlertEvent.DOWN, DeliveryStatus.DEFERRED)
    # The cooldown counts from when the last DOWN went out (minute 2).
    assert held.next_attempt_at == start + timedelta(minutes=17)
    assert "cooldown" in held.last_error
    # The sender leaves it alone until the cooldown is over, then sends it.
    assert send_pending(now=start + timedelta(minutes=16)) == 0
    assert send_pending(now=start + timedelta(minutes=17)) == 1
    held.refresh_from_db()
    assert (held.status, held.attempts) == (DeliveryStatus.SENT, 1)
    assert [r.json()["event"] for r in http_target.requests] == ["down", "recovery", "down"]
    # Its recovery, later, goes out as usual.
    go_up(server, start + timedelta(minutes=20))
    assert rows(config=config)[-1] == ("recovery", "pending")


def test_a_down_after_the_cooldown_is_alerted_again(alice):
    server = make_server(alice)
    config = make_config(server, cooldown_minutes=5)
    start = timezone.now() - timedelta(hours=1)
    go_up(server, start)
    go_down(server, start + timedelta(minutes=1))
    go_up(server, start + timedelta(minutes=2))
    go_down(server, start + timedelta(minutes=7))
    assert rows(config=config) == [("down", "pending"), ("recovery", "pending"), ("down", "pending")]


def test_a_cooldown_of_zero_never_holds_anything_back(alice):
    server = make_server(alice)
    config = make_config(server, cooldown_minutes=0)
    go_up(server)
    for _ in range(2):
        go_down(server)
        go_up(server)
    assert [status for _, status in rows(config=config)] == ["pending"] * 4


def test_degraded_is_alerted_only_to_configs_that_ask_and_only_from_up(alice):
    server = make_server(alice, degraded_threshold_ms=100)
    quiet = make_config(server)
    wants = make_config(server, NotificationType.SLACK, "http://127.0.0.1:9/slack", notify_on_degraded=True)
    go_up(server, response_time=500)  # unknown → degraded: a first success, nothing
    go_up(server)
    go_up(server, response_time=500)  # up → degraded
    assert rows(config=quiet) == []
    assert rows(config=wants) == [("degraded", "pending")]
    assert Incident.objects.count() == 0


def test_down_to_degraded_is_a_recovery(alice):
    server = make_server(alice, degraded_threshold_ms=100)
    config = make_config(server, notify_on_degraded=True)
    go_up(server)
    go_down(server)
    go_up(server, response_time=500)
    assert ServerStatus.objects.get(server=server).status == Status.DEGRADED
    assert rows(config=config) == [("down", "pending"), ("recovery", "pending")]
    assert Incident.objects.get().ended_at is not None


def test_a_pause_keeps_the_outage_open_and_the_next_success_ends_it(alice):
    server = make_server(alice)
    config = make_config(server)
    go_up(server)
    go_down(server)
    checks.pause(server)
    checks.resume(server)
    go_down(server)  # still the same outage: no second DOWN
    assert Incident.objects.count() == 1 and rows(config=config) == [("down", "pending")]
    go_up(server)
    assert rows(config=config) == [("down", "pending"), ("recovery", "pending")]
    recovery = NotificationDelivery.objects.get(event=AlertEvent.RECOVERY)
    assert recovery.change.previous_status == Status.DOWN
    assert Incident.objects.get().ended_at is not None


def test_one_change_and_config_can_have_only_one_delivery(alice):
    server = make_server(alice)
    config = make_config(server)
    change = go_down(server).change
    with pytest.raises(IntegrityError), transaction.atomic():
        NotificationDelivery.objects.create(config=config, change=change, event=AlertEvent.DOWN)


def test_only_one_incident_can_be_open_per_server(alice):
    server = make_server(alice)
    go_down(server)
    other = StatusChange.objects.create(server=server, previous_status=Status.DOWN, status=Status.DOWN)
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(server=server, started_at=timezone.now(), opening_change=other)
    assert Incident.objects.open().count() == 1


def test_a_check_that_rolls_back_leaves_no_incident_and_no_alert(alice):
    server = make_server(alice)
    make_config(server)
    with (
        # The batch's last write (services.engine.recording) fails: everything before it rolls back.
        mock.patch.object(recording, "_update_states", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError),
    ):
        go_down(server)
    assert StatusChange.objects.count() == 0
    assert Incident.objects.count() == 0 and NotificationDelivery.objects.count() == 0
