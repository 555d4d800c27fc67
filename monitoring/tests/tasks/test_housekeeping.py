"""Housekeeping: with only ``check_servers`` in cron, every slow step still happens (SPEC §22)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from monitoring.choices import DeliveryStatus, PingStatus, Protocol, Status
from monitoring.models import HourlyRollup, MaintenanceWindow, NotificationDelivery, PingResult, Server
from monitoring.services.alerts.delivery import send_pending
from monitoring.services.history.rollups import floor_hour
from monitoring.tasks import housekeeping
from monitoring.tests.alerting import go_down, make_config, make_server
from monitoring.tests.factories import make_ping
from tests.targets import LocalHTTPServer

LATER = timedelta(hours=1)  # no server of these tests is due for a check


def not_due(server: Server) -> Server:
    Server.objects.filter(pk=server.pk).update(next_check_at=timezone.now() + LATER)
    return server


@pytest.mark.django_db(transaction=True)  # check_servers runs its checks as in production
@override_settings(RAW_RESULT_RETENTION_DAYS=30)
def test_check_servers_alone_does_every_slow_step(alice):
    now = timezone.now()
    silent = Server.objects.create(owner=alice, name="backup", protocol=Protocol.PUSH, check_interval=60)
    Server.objects.filter(pk=silent.pk).update(push_deadline_at=now - timedelta(seconds=5))
    planned = not_due(make_server(alice, name="db"))
    window = MaintenanceWindow.objects.create(
        owner=alice, name="upgrade", starts_at=now - timedelta(seconds=30), ends_at=now + LATER
    )
    window.servers.add(planned)
    finished = floor_hour(now) - timedelta(hours=2)
    make_ping(planned, check_timestamp=finished + timedelta(minutes=5))
    make_ping(planned, PingStatus.FAILURE, check_timestamp=finished + timedelta(minutes=35))
    old = make_ping(planned, check_timestamp=now - timedelta(days=40))
    with LocalHTTPServer() as receiver:
        receiver.queue("/hook", 500, "busy")
        receiver.set("/hook", 200, "thanks")
        alerted = make_server(alice, name="api")
        make_config(alerted, recipient=receiver.url("/hook"))
        go_down(alerted)
        not_due(alerted)
        assert send_pending() == 1  # HTTP 500: retried later
        NotificationDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))

        out = StringIO()
        call_command("check_servers", stdout=out)

        assert [r.path for r in receiver.requests] == ["/hook", "/hook"]
    silent.refresh_from_db()
    assert silent.status == Status.DOWN, "the missed push deadline was recorded"
    assert PingResult.objects.filter(server=silent, status=PingStatus.TIMEOUT).count() == 1
    assert Server.objects.get(pk=planned.pk).status == Status.MAINTENANCE, "the window's start was recorded"
    rollup = HourlyRollup.objects.get(server=planned, hour=finished)
    assert (rollup.checks, rollup.failures) == (2, 1), "the finished hour was rolled up"
    assert not PingResult.objects.filter(pk=old.pk).exists(), "raw rows past retention were pruned"
    delivery = NotificationDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 2), "the failed delivery was retried"
    assert "Housekeeping:" in out.getvalue()


@override_settings(RAW_RESULT_RETENTION_DAYS=30)
def test_running_it_again_soon_does_no_work_twice(alice):
    # Half past an hour: a minute later must not make another hour final (FINAL_AFTER after its end).
    now = floor_hour(timezone.now()) - timedelta(minutes=30)
    server = make_server(alice)
    make_ping(server, check_timestamp=floor_hour(now) - timedelta(hours=2))
    make_ping(server, check_timestamp=now - timedelta(days=40))
    first = housekeeping.run_all(now)
    assert first.hours_rolled_up >= 1 and first.pruned == 1
    again = housekeeping.run_all(now + timedelta(minutes=1))
    assert (again.hours_rolled_up, again.pruned) == (0, 0)
    assert again.describe().startswith("Housekeeping:")


@override_settings(RAW_RESULT_RETENTION_DAYS=30)
def test_pruning_happens_at_most_once_a_day(alice):
    now = timezone.now()
    server = make_server(alice)
    make_ping(server, check_timestamp=now - timedelta(days=40))
    assert housekeeping.run_all(now).pruned == 1
    # Past retention by two hours: it waits for the next day's pruning.
    late = make_ping(server, check_timestamp=now - timedelta(days=30, hours=2))
    assert housekeeping.run_all(now + timedelta(hours=3)).pruned == 0
    assert PingResult.objects.filter(pk=late.pk).exists()
    assert housekeeping.run_all(now + timedelta(days=1, hours=1)).pruned == 1
    assert not PingResult.objects.filter(pk=late.pk).exists()


def test_each_finished_hour_is_rolled_up_once_it_is_final(alice):
    server = make_server(alice)
    hour = floor_hour(timezone.now()) - timedelta(hours=3)
    make_ping(server, check_timestamp=hour + timedelta(minutes=10))
    make_ping(server, check_timestamp=hour + timedelta(hours=1, minutes=10))
    housekeeping.run_all(hour + timedelta(minutes=50))  # the hour still runs: not rolled up
    assert not HourlyRollup.objects.filter(hour=hour).exists()
    housekeeping.run_all(hour + timedelta(hours=1, minutes=7))  # over, and its late rows are in
    assert HourlyRollup.objects.filter(hour=hour).count() == 1
    assert not HourlyRollup.objects.filter(hour=hour + timedelta(hours=1)).exists()
    assert housekeeping.run_all(hour + timedelta(hours=1, minutes=8)).hours_rolled_up == 0
    assert housekeeping.run_all(hour + timedelta(hours=2, minutes=7)).hours_rolled_up == 1
    assert HourlyRollup.objects.filter(hour=hour + timedelta(hours=1)).count() == 1


def test_a_failing_step_does_not_stop_the_others(alice, monkeypatch):
    server = make_server(alice)
    make_ping(server, check_timestamp=floor_hour(timezone.now()) - timedelta(hours=2))

    def broken(now=None):
        raise RuntimeError("push step broke")

    monkeypatch.setattr(housekeeping, "push_step", broken)
    done = housekeeping.run_all()
    assert done.failed == ["push-deadlines"] and done.hours_rolled_up >= 1
    assert "Steps failed: push-deadlines" in done.describe()


@pytest.mark.django_db
def test_agents_idempotency_keys_are_pruned_after_agent_receipt_hours(settings):
    from monitoring.models import AgentReceipt, ProbeLocation
    from monitoring.tasks.rollups import prune_step

    location = ProbeLocation.objects.create(name="Frankfurt", slug="eu")
    now = timezone.now()
    AgentReceipt.objects.create(key="old", location=location, received_at=now - timedelta(hours=25))
    AgentReceipt.objects.create(key="new", location=location, received_at=now - timedelta(hours=23))
    settings.AGENT_RECEIPT_HOURS = 24
    prune_step(now)
    assert list(AgentReceipt.objects.values_list("key", flat=True)) == ["new"]
