"""On PostgreSQL, several scheduler processes escalating at once create each step and reminder once (SPEC §18)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import require_postgres
from monitoring.choices import AlertEvent, NotificationType
from monitoring.models import EscalationPolicy, Incident, NotificationDelivery
from monitoring.services.alerts import escalation
from monitoring.tests.alerting import events, go_down, make_config, make_server
from tests.concurrency import at_once, row_locked_elsewhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def escalating(owner, count: int) -> tuple[list[Incident], object]:
    """``count`` servers down for 10 minutes under a three-step policy repeating every 2 minutes."""
    t0 = timezone.now() - timedelta(minutes=10)
    incidents = []
    for n in range(count):
        server = make_server(owner, name=f"s{n}")
        configs = [
            make_config(server, NotificationType.EMAIL, f"step{k}-{n}@example.com", events=[*events(), "reminder"])
            for k in range(3)
        ]
        policy = EscalationPolicy.objects.create(
            owner=owner,
            name=f"p{n}",
            steps=[{"after_minutes": k, "notification_configs": [configs[k].pk]} for k in range(3)],
            repeat_every_minutes=2,
        )
        server.escalation_policy = policy
        server.save()
        go_down(server, t0)
        incidents.append(Incident.objects.get(server=server))
    return incidents, t0


def test_concurrent_escalation_runners_create_each_step_once(alice):
    require_postgres()
    incidents, t0 = escalating(alice, 12)
    # Steps 1 and 2, then (2 minutes after step 2 went out) one reminder round each.
    for at in (t0 + timedelta(minutes=2), t0 + timedelta(minutes=4, seconds=30)):
        errors = at_once(lambda n, at=at: escalation.escalation_step(at, limit=3), threads=4)
        assert errors == []
        errors = at_once(lambda n, at=at: escalation.escalation_step(at), threads=4)  # the rest
        assert errors == []
    for incident in incidents:
        rows = list(
            NotificationDelivery.objects.filter(incident=incident).values_list("config_id", "event", "dedupe_key")
        )
        steps = sorted(key for _, event, key in rows if event == AlertEvent.DOWN)
        assert steps == [f"step:{incident.pk}:{n}" for n in range(3)], rows
        reminders = [key for _, event, key in rows if event == AlertEvent.REMINDER]
        assert reminders == [f"reminder:{incident.pk}:1"] * 3, rows
        incident.refresh_from_db()
        kinds = [e["kind"] for e in incident.timeline]
        assert kinds == ["opened", "step", "step", "step", "reminder"], kinds


def test_an_incident_another_runner_holds_is_passed_over_not_waited_for(alice):
    require_postgres()
    (held, free), t0 = escalating(alice, 2)
    with row_locked_elsewhere(Incident, held.pk):
        assert escalation.escalation_step(t0 + timedelta(minutes=1)) == 1
    assert NotificationDelivery.objects.filter(incident=free, dedupe_key=f"step:{free.pk}:1").count() == 1
    assert not NotificationDelivery.objects.filter(incident=held, dedupe_key=f"step:{held.pk}:1").exists()
    assert escalation.escalation_step(t0 + timedelta(minutes=1)) == 1  # its turn comes at the next run
    assert NotificationDelivery.objects.filter(incident=held, dedupe_key=f"step:{held.pk}:1").count() == 1
