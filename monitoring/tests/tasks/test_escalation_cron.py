"""Steps and reminders go out at the next ``check_servers`` (cron mode, SPEC §22) and within
10 s of their due time under ``start_scheduler`` (SPEC §18)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from conftest import subprocess_env
from monitoring.choices import AlertEvent, NotificationType
from monitoring.models import EscalationPolicy, Incident, NotificationDelivery, Server
from monitoring.tests.alerting import events, go_down, make_config, make_server
from tests.targets import LocalHTTPServer

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db(transaction=True)  # check_servers runs its checks as in production
def test_check_servers_sends_the_steps_and_reminders_that_are_due(alice):
    server = make_server(alice)
    first = make_config(server, NotificationType.EMAIL, "first@example.com", events=[*events(), "reminder"])
    second = make_config(server, NotificationType.EMAIL, "second@example.com", events=[*events(), "reminder"])
    policy = EscalationPolicy.objects.create(
        owner=alice,
        name="on call",
        steps=[
            {"after_minutes": 0, "notification_configs": [first.pk]},
            {"after_minutes": 1, "notification_configs": [second.pk]},
        ],
        repeat_every_minutes=1,
    )
    server.escalation_policy = policy
    server.save()
    go_down(server, timezone.now() - timedelta(seconds=61))
    Server.objects.filter(pk=server.pk).update(next_check_at=timezone.now() + timedelta(hours=1))  # no check due
    incident = Incident.objects.get(server=server)

    out = StringIO()
    call_command("check_servers", stdout=out)
    assert "1 incident(s) escalated" in out.getvalue()
    assert sorted(to for m in mail.outbox for to in m.to) == ["first@example.com", "second@example.com"]

    # A minute after the last step: the next cron run sends the reminders.
    Incident.objects.filter(pk=incident.pk).update(
        escalated_at=timezone.now() - timedelta(seconds=61), next_escalation_at=timezone.now() - timedelta(seconds=1)
    )
    call_command("check_servers", stdout=StringIO())
    reminders = NotificationDelivery.objects.filter(incident=incident, event=AlertEvent.REMINDER)
    assert sorted(reminders.values_list("config_id", flat=True)) == [first.pk, second.pk]
    assert set(reminders.values_list("status", flat=True)) == {"sent"}
    assert sum("Reminder" in m.subject for m in mail.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_start_scheduler_sends_a_due_step_within_10_seconds(alice):
    with LocalHTTPServer() as receiver:
        receiver.set("/first", 200, "ok")
        receiver.set("/second", 200, "ok")
        server = make_server(alice, port=9)
        first = make_config(server, recipient=receiver.url("/first"), events=[*events(), "reminder"])
        second = make_config(server, recipient=receiver.url("/second"), events=[*events(), "reminder"])
        server.escalation_policy = EscalationPolicy.objects.create(
            owner=alice,
            name="on call",
            steps=[
                {"after_minutes": 0, "notification_configs": [first.pk]},
                {"after_minutes": 1, "notification_configs": [second.pk]},
            ],
        )
        server.save()
        go_down(server)
        Server.objects.filter(pk=server.pk).update(next_check_at=timezone.now() + timedelta(hours=1))
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "start_scheduler", "--tick", "0.2", "--concurrency", "2"],
            cwd=ROOT,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            # Step 0 arriving says the scheduler is up; then step 1 falls due.
            wait_for(lambda: "/first" in [r.path for r in receiver.requests], 60)
            due = timezone.now()
            Incident.objects.filter(server=server).update(started_at=due - timedelta(minutes=1), next_escalation_at=due)
            wait_for(lambda: "/second" in [r.path for r in receiver.requests], 30)
            arrived = timezone.now()
            time.sleep(3)  # and nothing more comes
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=30)
        paths = [r.path for r in receiver.requests]
    assert paths.count("/second") == 1, (paths, output[-2000:])
    assert paths.count("/first") == 1
    assert arrived - due < timedelta(seconds=10), (arrived - due, output[-2000:])


def wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        time.sleep(0.1)
