"""Cron mode (SPEC §22): ``check_servers`` alone sends escalation steps and reminders when due."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from monitoring.choices import AlertEvent, NotificationType
from monitoring.models import EscalationPolicy, Incident, NotificationDelivery, Server
from monitoring.tests.alerting import go_down, make_config, make_server


@pytest.mark.django_db(transaction=True)  # check_servers runs its checks as in production
def test_check_servers_sends_the_steps_and_reminders_that_are_due(alice):
    server = make_server(alice)
    first = make_config(server, NotificationType.EMAIL, "first@example.com")
    second = make_config(server, NotificationType.EMAIL, "second@example.com")
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
