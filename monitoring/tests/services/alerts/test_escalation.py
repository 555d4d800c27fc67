"""Escalation policies (SPEC §18): step 0 with the DOWN, later steps and reminders as due work,
acknowledgement, the recovery to everyone notified, and the incident's timeline.

Time is the argument of ``escalation_step(now)`` and of the recorded checks: no sleeps.
"""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from monitoring.choices import AlertEvent, NotificationType
from monitoring.models import EscalationPolicy, Incident, NotificationConfig, NotificationDelivery
from monitoring.services.alerts import escalation
from monitoring.services.alerts.ack import ack_url_for, incident_for_token
from monitoring.services.alerts.delivery import claim, send_pending
from monitoring.services.alerts.notifiers.messages import notice_for
from monitoring.services.engine.checks import save_edit
from monitoring.tests.alerting import events, go_down, go_up, make_config, make_server

WITH_REMINDERS = [*events(), "reminder"]

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(hours=2)


def keys(incident: Incident, event: str | None = None) -> list[tuple[int, str, str | None]]:
    """(config, event, dedupe_key) of the incident's deliveries, oldest first."""
    rows = NotificationDelivery.objects.filter(incident=incident)
    if event:
        rows = rows.filter(event=event)
    return list(rows.order_by("id").values_list("config_id", "event", "dedupe_key"))


@pytest.fixture
def setup(alice):
    """A server with a two-step policy (0 and 1 minute) repeating every 5 minutes, and a config
    of its own that the policy does not name."""
    server = make_server(alice)
    # Reminders reach configs whose events include "reminder" (not in the default events).
    first = make_config(server, NotificationType.EMAIL, "first@example.com", events=WITH_REMINDERS)
    second = make_config(server, NotificationType.EMAIL, "second@example.com", events=WITH_REMINDERS)
    own = make_config(server, NotificationType.EMAIL, "own@example.com", notify_on_degraded=True)
    policy = EscalationPolicy.objects.create(
        owner=alice,
        name="on call",
        steps=[
            {"after_minutes": 0, "notification_configs": [first.pk]},
            {"after_minutes": 1, "notification_configs": [second.pk]},
        ],
        repeat_every_minutes=5,
    )
    server.escalation_policy = policy
    server.save()
    go_up(server, T0 - timedelta(minutes=1))
    return server, policy, first, second, own


def open_incident(server) -> Incident:
    go_down(server, T0)
    return Incident.objects.get(server=server, ended_at__isnull=True)


def test_a_down_notifies_step_0_at_once_and_only_it(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    assert keys(incident) == [(first.pk, "down", f"step:{incident.pk}:0")]
    assert not NotificationDelivery.objects.filter(config=own).exists(), "the policy replaces the server's configs"
    assert incident.next_escalation_at == T0 + timedelta(minutes=1)
    assert [e["kind"] for e in incident.timeline] == ["opened", "step"]
    assert incident.timeline[1]["configs"] == [first.pk]


def test_step_1_goes_out_when_the_incident_has_been_open_a_minute_and_never_twice(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    assert escalation.escalation_step(T0 + timedelta(seconds=59)) == 0
    assert keys(incident) == [(first.pk, "down", f"step:{incident.pk}:0")]
    assert escalation.escalation_step(T0 + timedelta(minutes=1)) == 1
    assert escalation.escalation_step(T0 + timedelta(minutes=1, seconds=1)) == 0
    assert keys(incident)[1:] == [(second.pk, "down", f"step:{incident.pk}:1")]
    incident.refresh_from_db()
    assert incident.escalation_step == 1
    assert incident.next_escalation_at == T0 + timedelta(minutes=6), "first reminder: 5 min after the last step"
    assert [e["kind"] for e in incident.timeline] == ["opened", "step", "step"]
    assert incident.timeline[2]["configs"] == [second.pk]


def test_reminders_repeat_to_every_config_notified_until_acknowledged(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    escalation.escalation_step(T0 + timedelta(minutes=1))
    assert escalation.escalation_step(T0 + timedelta(minutes=5, seconds=59)) == 0
    assert escalation.escalation_step(T0 + timedelta(minutes=6)) == 1
    assert sorted(keys(incident, AlertEvent.REMINDER)) == [
        (first.pk, "reminder", f"reminder:{incident.pk}:1"),
        (second.pk, "reminder", f"reminder:{incident.pk}:1"),
    ]
    assert escalation.escalation_step(T0 + timedelta(minutes=7)) == 0
    assert escalation.escalation_step(T0 + timedelta(minutes=11)) == 1
    assert len(keys(incident, AlertEvent.REMINDER)) == 4
    escalation.acknowledge(incident.pk, by="alice", note="on it")
    assert escalation.escalation_step(T0 + timedelta(hours=1)) == 0
    assert len(keys(incident, AlertEvent.REMINDER)) == 4, "no reminder after the acknowledgement"
    incident.refresh_from_db()
    assert [e["kind"] for e in incident.timeline][-3:] == ["reminder", "reminder", "acknowledged"]
    assert incident.timeline[-1]["by"] == "alice" and incident.timeline[-1]["note"] == "on it"


def test_a_scheduler_that_was_away_sends_every_due_step_then_counts_reminders_from_it(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    assert escalation.escalation_step(T0 + timedelta(minutes=30)) == 1
    assert [k[2] for k in keys(incident)] == [f"step:{incident.pk}:0", f"step:{incident.pk}:1"]
    assert escalation.escalation_step(T0 + timedelta(minutes=34)) == 0
    # Away again through three reminder times: one reminder, not a burst.
    assert escalation.escalation_step(T0 + timedelta(minutes=46)) == 1
    assert [k[2] for k in keys(incident, AlertEvent.REMINDER)] == [f"reminder:{incident.pk}:3"] * 2
    incident.refresh_from_db()
    assert incident.next_escalation_at == T0 + timedelta(minutes=50)


def test_reminders_go_only_to_configs_that_take_them(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    # A config whose events leave out "reminder" (SPEC §18's default) gets none.
    NotificationConfig.objects.filter(pk=second.pk).update(events=events())
    escalation.escalation_step(T0 + timedelta(minutes=1))
    escalation.escalation_step(T0 + timedelta(minutes=6))
    assert keys(incident, AlertEvent.REMINDER) == [(first.pk, "reminder", f"reminder:{incident.pk}:1")]


def test_a_config_takes_reminders_only_when_its_events_say_so(setup):
    first = setup[2]
    assert first.wants(AlertEvent.REMINDER)
    first.events = ["down", "recovery"]
    assert not first.wants(AlertEvent.REMINDER)
    assert first.wants(AlertEvent.DOWN)


def test_acknowledging_stops_the_later_steps(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    escalation.acknowledge(incident.pk, by="bob")
    assert escalation.escalation_step(T0 + timedelta(minutes=10)) == 0
    assert keys(incident) == [(first.pk, "down", f"step:{incident.pk}:0")]
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None and incident.next_escalation_at is None
    again = escalation.acknowledge(incident.pk, by="carol")
    assert [e["kind"] for e in again.timeline].count("acknowledged") == 1, "a second ack changes nothing"


def test_acknowledging_tells_the_paging_services_that_were_notified(setup, monkeypatch):
    server, policy, first, second, own = setup
    # The PagerDuty and Opsgenie channels are another branch's: e-mail stands in for them here.
    monkeypatch.setattr(escalation, "ACK_NOTIFIED_TYPES", (NotificationType.EMAIL,))
    incident = open_incident(server)
    escalation.acknowledge(incident.pk, by="bob", note="rebooting")
    assert keys(incident, AlertEvent.ACKNOWLEDGED) == [(first.pk, "acknowledged", f"ack:{incident.pk}")]
    incident.refresh_from_db()
    assert incident.timeline[-1]["configs"] == [first.pk]
    delivery = NotificationDelivery.objects.get(event=AlertEvent.ACKNOWLEDGED)
    assert "acknowledged by bob: rebooting" in notice_for(delivery).message


def test_only_paging_services_are_told_of_an_acknowledgement(setup):
    server = setup[0]
    incident = open_incident(server)
    escalation.acknowledge(incident.pk, by="bob")
    assert keys(incident, AlertEvent.ACKNOWLEDGED) == [], "e-mail is not a paging service"


def test_a_closed_incident_cannot_be_acknowledged(setup):
    server = setup[0]
    incident = open_incident(server)
    go_up(server, T0 + timedelta(minutes=2))
    with pytest.raises(escalation.NotAcknowledgeable):
        escalation.acknowledge(incident.pk, by="bob")


def test_the_recovery_goes_to_every_config_notified_and_only_them(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    escalation.escalation_step(T0 + timedelta(minutes=1))
    go_up(server, T0 + timedelta(minutes=3))
    assert sorted(c for c, _, _ in keys(incident, AlertEvent.RECOVERY)) == [first.pk, second.pk]
    incident.refresh_from_db()
    assert incident.next_escalation_at is None
    assert incident.timeline[-1]["kind"] == "resolved" and incident.timeline[-1]["configs"] == [first.pk, second.pk]
    assert escalation.escalation_step(T0 + timedelta(hours=1)) == 0, "a closed incident escalates no more"


def test_a_recovery_follows_the_policy_its_down_went_through_even_if_the_policy_was_removed(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    server.refresh_from_db()
    server.escalation_policy = None
    server.save()
    go_up(server, T0 + timedelta(minutes=3))
    assert [c for c, _, _ in keys(incident, AlertEvent.RECOVERY)] == [first.pk]
    assert not NotificationDelivery.objects.filter(config=own).exists()


def test_the_servers_own_configs_still_take_the_other_events(setup):
    server, policy, first, second, own = setup
    go_down(server, T0)
    go_up(server, T0 + timedelta(minutes=1))
    server.degraded_threshold_ms = 1
    server.save()
    go_up(server, T0 + timedelta(minutes=2), response_time=500)
    assert list(NotificationDelivery.objects.filter(config=own).values_list("event", flat=True)) == ["degraded"]


def test_a_server_without_a_policy_alerts_its_configs_as_before_with_a_timeline(alice):
    server = make_server(alice)
    config = make_config(server, NotificationType.EMAIL, "ops@example.com")
    go_up(server, T0 - timedelta(minutes=1))
    go_down(server, T0)
    go_up(server, T0 + timedelta(minutes=1))
    incident = Incident.objects.get(server=server)
    assert list(NotificationDelivery.objects.filter(config=config).values_list("event", flat=True)) == [
        "recovery",
        "down",
    ]
    assert [e["kind"] for e in incident.timeline] == ["opened", "resolved"]
    assert incident.next_escalation_at is None


def test_a_paused_server_holds_its_escalation(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    server.refresh_from_db()
    server.is_active = False
    save_edit(server, {"is_active"})
    assert escalation.escalation_step(T0 + timedelta(minutes=2)) == 0
    assert len(keys(incident)) == 1
    incident.refresh_from_db()
    assert incident.next_escalation_at == T0 + timedelta(minutes=2) + escalation.HOLD


def test_a_crash_mid_escalation_commits_nothing_and_the_next_run_does_that_step_once(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    real = NotificationDelivery.objects.bulk_create

    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    with (
        mock.patch.object(NotificationDelivery.objects, "bulk_create", side_effect=crash),
        pytest.raises(RuntimeError),
    ):
        escalation.escalation_step(T0 + timedelta(minutes=1))
    incident.refresh_from_db()
    assert incident.escalation_step == 0 and incident.next_escalation_at == T0 + timedelta(minutes=1)
    assert len(keys(incident)) == 1, "nothing of the step was kept"
    assert NotificationDelivery.objects.bulk_create == real
    assert escalation.escalation_step(T0 + timedelta(minutes=1, seconds=5)) == 1
    assert escalation.escalation_step(T0 + timedelta(minutes=1, seconds=6)) == 0
    assert keys(incident)[1:] == [(second.pk, "down", f"step:{incident.pk}:1")]


def test_a_sender_that_dies_after_claiming_a_step_repeats_nothing_and_loses_nothing(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    NotificationDelivery.objects.filter(incident=incident).delete()  # only the step under test
    escalation.escalation_step(T0 + timedelta(minutes=1))
    now = timezone.now()
    taken = claim(now)
    assert [d.dedupe_key for d in taken] == [f"step:{incident.pk}:1"]
    # The sender dies here. The step is not queued again, and nobody else takes the row yet.
    assert escalation.escalation_step(T0 + timedelta(minutes=1, seconds=30)) == 0
    assert claim(now + timedelta(seconds=1)) == []
    # Once its lease lapses, another sender takes that same row and sends it, once.
    NotificationDelivery.objects.filter(pk=taken[0].pk).update(claimed_until=now - timedelta(seconds=1))
    assert send_pending(now=now) == 1
    assert [m.to for m in mail.outbox] == [["second@example.com"]]
    assert send_pending(now=now + timedelta(minutes=1)) == 0


@override_settings(PUBLIC_URL="https://pulse.example.com")
def test_every_down_alert_and_reminder_carries_the_ack_link(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    escalation.escalation_step(T0 + timedelta(minutes=1))
    escalation.escalation_step(T0 + timedelta(minutes=6))
    assert send_pending(now=timezone.now()) == 4
    assert ack_url_for(incident).startswith("https://pulse.example.com/ack/")
    subjects = sorted(m.subject for m in mail.outbox)
    assert [s.split(" (")[0] for s in subjects] == ["[PulseGuard] Reminder: web is still DOWN"] * 2 + [
        "[PulseGuard] web is DOWN"
    ] * 2
    for m in mail.outbox:
        links = re.findall(r"https://pulse\.example\.com/ack/([^/\s]+)/", m.body)
        assert links and all(incident_for_token(t) == incident for t in links), m.body
    down = NotificationDelivery.objects.filter(event=AlertEvent.DOWN).first()
    token = re.search(r"/ack/([^/\s]+)/", notice_for(down).message).group(1)  # SMS, chat and webhook too
    assert incident_for_token(token) == incident


def test_an_ack_token_of_a_closed_incident_or_a_forged_one_finds_nothing(setup):
    server = setup[0]
    incident = open_incident(server)
    token = ack_url_for(incident).rsplit("/", 2)[1]
    assert incident_for_token(token + "x") is None
    assert incident_for_token("garbage") is None
    go_up(server, T0 + timedelta(minutes=1))
    assert incident_for_token(token) is None


def test_an_incident_always_gets_the_same_link_so_every_attempt_has_the_same_body(setup):
    incident = open_incident(setup[0])
    assert ack_url_for(incident) == ack_url_for(Incident.objects.get(pk=incident.pk))


def test_an_edited_policy_is_followed_by_the_open_incidents(setup):
    server, policy, first, second, own = setup
    incident = open_incident(server)
    policy.steps = [policy.steps[0], {"after_minutes": 3, "notification_configs": [second.pk]}]
    policy.save()
    escalation.rearm(policy)
    assert escalation.escalation_step(T0 + timedelta(minutes=2)) == 0
    incident.refresh_from_db()
    assert incident.next_escalation_at == T0 + timedelta(minutes=3)
    assert escalation.escalation_step(T0 + timedelta(minutes=3)) == 1
