"""Escalation policies at work: steps, reminders, acknowledgement (SPEC §18).

A server with an ``escalation_policy`` sends its DOWN, reminders and recovery through the
policy only (its own configs still take the other events):

* The DOWN (``queue_policy_alerts``, inside the check's transaction, called by
  ``rules._queue``) notifies step 0 at once and arms ``Incident.next_escalation_at``.
* ``escalation_step(now)`` is due work, run by the scheduler every ``STEP_SECONDS`` and by
  ``check_servers``' housekeeping: each incident whose time has come is locked
  (``FOR UPDATE SKIP LOCKED``: several schedulers share the work, none waits for another),
  and in *one* transaction gets the delivery rows of every step now due, or one reminder
  round, its timeline entry, and its next due time. A process killed mid-way commits
  nothing, so the next run does that same step: never skipped, never twice. The rows carry a
  ``dedupe_key`` (``step:<incident>:<n>``, ``reminder:<incident>:<k>``) unique per config as a
  second guard. Sending them is the sender's business (leases, retries: ``delivery``).
* The recovery goes to every config the incident notified (a step or a reminder).
* ``acknowledge()`` stops steps and reminders and tells the paging services that were
  notified (``ACK_NOTIFIED_TYPES``) with an ``acknowledged`` delivery.

Steps and reminders are not held back by a config's cooldown: a policy is the team saying
who must hear, and when.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus, Status, TimelineKind
from monitoring.models import EscalationPolicy, Incident, NotificationConfig, NotificationDelivery, StatusChange

log = logging.getLogger(__name__)

#: How often the scheduler looks for due steps: well inside SPEC §18's 10 s with the sender's pace.
STEP_SECONDS = 2
#: Incidents one run handles (each in its own short transaction).
BATCH = 200
#: Channels told of an acknowledgement, so that they stop paging (SPEC §18).
ACK_NOTIFIED_TYPES = ("pagerduty", "opsgenie")
#: A DOWN incident whose server is paused or in maintenance holds its escalation; looked at again after this.
HOLD = timedelta(minutes=1)
# Deliveries that count as "this config was notified of the incident".
NOTIFIED = (DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED)


class NotAcknowledgeable(Exception):
    """The incident is closed: there is nothing to acknowledge."""


def step_key(incident_id: int, n: int) -> str:
    return f"step:{incident_id}:{n}"


def reminder_key(incident_id: int, k: int) -> str:
    return f"reminder:{incident_id}:{k}"


def ack_key(incident_id: int) -> str:
    return f"ack:{incident_id}"


# --- the DOWN and the recovery, inside the check's transaction -----------------------------------


@dataclass(frozen=True)
class PolicyAlert:
    """A DOWN or recovery of a server with an escalation policy (``rules.Alert`` of such a server)."""

    change: StatusChange
    event: str
    incident: Incident
    policy_id: int


def queue_policy_alerts(alerts: list[PolicyAlert], held: Mapping[int, str] | None = None) -> list[NotificationDelivery]:
    """Step 0 of each DOWN and the recovery of each ended outage; returns the rows queued.

    ``held``: servers whose DOWN a dependency holds back (SPEC §18), with the reason. Their step 0
    is written ``suppressed`` with it and the escalation waits (no next step) until
    ``release_held`` once the dependency is back and the server still fails.

    A fixed number of statements per batch (policies, configs, notified configs, inserts, one
    update of the incidents), whatever its size.
    """
    held = held or {}
    if not alerts:
        return []
    policies = EscalationPolicy.objects.in_bulk({a.policy_id for a in alerts})
    downs = [a for a in alerts if a.event == AlertEvent.DOWN and a.policy_id in policies]
    recoveries = [a for a in alerts if a.event == AlertEvent.RECOVERY]
    notified = _notified_configs(a.incident.pk for a in recoveries)
    wanted_ids = {pk for a in downs for pk in policies[a.policy_id].step_config_ids(0)}
    wanted_ids |= {pk for ids in notified.values() for pk in ids}
    configs = NotificationConfig.objects.filter(pk__in=wanted_ids, enabled=True).in_bulk() if wanted_ids else {}
    rows: list[NotificationDelivery] = []
    touched: list[Incident] = []
    for alert in downs:
        policy, incident, at = policies[alert.policy_id], alert.incident, alert.change.changed_at
        reached = [configs[pk] for pk in dict.fromkeys(policy.step_config_ids(0)) if pk in configs]
        step = [_row(c, incident, AlertEvent.DOWN, at, step_key(incident.pk, 0), alert.change.pk) for c in reached]
        incident.escalation_step, incident.escalated_at = 0, at
        reason = held.get(alert.change.server_id)
        if reason is None:
            incident.add_to_timeline(TimelineKind.STEP, at, configs=[c.pk for c in reached], note="step 1")
            incident.next_escalation_at = next_due(incident, policy)
        else:
            for row in step:
                row.status, row.last_error = DeliveryStatus.SUPPRESSED, reason
            incident.add_to_timeline(TimelineKind.SUPPRESSED, at, configs=[c.pk for c in reached], note=reason)
            incident.next_escalation_at = None  # release_held() starts it again
        rows += step
        touched.append(incident)
    for alert in recoveries:
        incident = alert.incident
        reached = [configs[pk] for pk in sorted(notified.get(incident.pk, ())) if pk in configs]
        rows += [
            _row(c, incident, AlertEvent.RECOVERY, alert.change.changed_at, None, alert.change.pk) for c in reached
        ]
        _name_resolved_configs(incident, [c.pk for c in reached])
        touched.append(incident)
    if touched:
        Incident.objects.bulk_update(touched, ["timeline", "escalation_step", "escalated_at", "next_escalation_at"])
    created = NotificationDelivery.objects.bulk_create(rows) if rows else []
    for row in created:
        log.info(
            "escalation_alert_queued incident_id=%s config_id=%s event=%s", row.incident_id, row.config_id, row.event
        )
    return created


def release_held(server_ids: Iterable[int], now: datetime) -> int:
    """Go on escalating the open incidents of ``server_ids`` whose DOWN a dependency held back
    (``queue_policy_alerts``' ``held``): their step 0 went out just now (``rules.release_held_downs``),
    so the next step is due as the policy says, counted from the incident's start. How many."""
    incidents = list(
        Incident.objects.open()
        .filter(server_id__in=set(server_ids), escalation_step=0, next_escalation_at__isnull=True)
        .select_related("server__escalation_policy")
    )
    armed = []
    for incident in incidents:
        policy = incident.server.escalation_policy
        if policy is None:
            continue
        incident.escalated_at = now
        incident.add_to_timeline(TimelineKind.STEP, now, note="step 1 (held while a dependency was down)")
        incident.next_escalation_at = next_due(incident, policy)
        armed.append(incident)
    if armed:
        Incident.objects.bulk_update(armed, ["timeline", "escalated_at", "next_escalation_at"])
    return len(armed)


def _name_resolved_configs(incident: Incident, config_ids: list[int]) -> None:
    """Put the configs a recovery reaches on the ``resolved`` entry ``rules`` added."""
    timeline = list(incident.timeline or [])
    for entry in reversed(timeline):
        if entry.get("kind") == TimelineKind.RESOLVED:
            entry["configs"] = sorted(config_ids)
            break
    incident.timeline = timeline


def _row(
    config: NotificationConfig,
    incident: Incident,
    event: str,
    at: datetime,
    key: str | None,
    change_id: int | None = None,
) -> NotificationDelivery:
    return NotificationDelivery(
        config=config,
        change_id=change_id,
        incident=incident,
        event=event,
        dedupe_key=key,
        status=DeliveryStatus.PENDING,
        next_attempt_at=at,
        created_at=at,
    )


def _notified_configs(incident_ids: Iterable[int]) -> dict[int, set[int]]:
    """The configs each incident notified (a step's DOWN or a reminder that was not held back). One query."""
    ids = set(incident_ids)
    if not ids:
        return {}
    found: dict[int, set[int]] = defaultdict(set)
    for incident_id, config_id in NotificationDelivery.objects.filter(
        incident_id__in=ids, event__in=(AlertEvent.DOWN, AlertEvent.REMINDER), status__in=NOTIFIED
    ).values_list("incident_id", "config_id"):
        found[incident_id].add(config_id)
    return found


# --- the due work: later steps and reminders -----------------------------------------------------


def next_due(incident: Incident, policy: EscalationPolicy) -> datetime | None:
    """When the incident's next step (or else its next reminder) is due; None: nothing more comes."""
    last = incident.escalation_step
    if last is None:
        return None
    due = policy.step_due(last + 1, incident.started_at)
    if due is not None:
        return due
    repeat = policy.repeat_every_minutes
    if not repeat or incident.escalated_at is None:
        return None
    return incident.escalated_at + timedelta(minutes=repeat * (incident.reminders_sent + 1))


def escalation_step(now: datetime | None = None, *, limit: int = BATCH) -> int:
    """Notify every step and reminder that is due; how many incidents escalated.

    Each incident is taken in its own transaction with ``FOR UPDATE SKIP LOCKED``: another
    process working on it makes this one pass it over (it is done by then, or at the next run).
    """
    now = now or timezone.now()
    done = 0
    for _ in range(limit):
        outcome = _escalate_one(now)
        if outcome is None:
            break
        done += outcome
    return done


def _escalate_one(now: datetime) -> int | None:
    """Escalate the earliest due incident; None when none is due, else 1 if anything was queued."""
    with transaction.atomic():
        incident = (
            Incident.objects.escalation_due(now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("server__escalation_policy")
            .order_by("next_escalation_at", "id")
            .first()
        )
        if incident is None:
            return None
        return int(_escalate(incident, now))


def _escalate(incident: Incident, now: datetime) -> bool:
    """Queue what is due for the locked ``incident`` and move its next due time on; whether anything was queued."""
    server = incident.server
    policy = server.escalation_policy
    if policy is None or incident.escalation_step is None:
        # The policy was taken off the server (or never notified step 0): the escalation ends.
        Incident.objects.filter(pk=incident.pk).update(next_escalation_at=None)
        return False
    if server.status != Status.DOWN or not server.notifications:
        # Paused, in maintenance, or alerts switched off: hold, and look again later.
        Incident.objects.filter(pk=incident.pk).update(next_escalation_at=now + HOLD)
        return False
    notified = _notified_configs([incident.pk]).get(incident.pk, set())
    rows: list[NotificationDelivery] = []
    while True:
        n = incident.escalation_step + 1
        due = policy.step_due(n, incident.started_at)
        if due is None or due > now:
            break
        reached = _configs([pk for pk in policy.step_config_ids(n) if pk not in notified])
        opening = incident.opening_change_id
        rows += [_row(c, incident, AlertEvent.DOWN, now, step_key(incident.pk, n), opening) for c in reached]
        notified |= {c.pk for c in reached}
        incident.escalation_step, incident.escalated_at, incident.reminders_sent = n, now, 0
        incident.add_to_timeline(TimelineKind.STEP, now, configs=[c.pk for c in reached], note=f"step {n + 1}")
        log.info("escalation_step incident_id=%s step=%s configs=%s", incident.pk, n, [c.pk for c in reached])
    due = next_due(incident, policy)
    if due is not None and due <= now and policy.step(incident.escalation_step + 1) is None:
        # Reminders: one round now, however many were missed (a scheduler that was down
        # sends one, not a burst), numbered by the schedule so a repeat is a no-op.
        repeat = timedelta(minutes=policy.repeat_every_minutes)
        k = int((now - incident.escalated_at) / repeat)
        reached = [c for c in _configs(sorted(notified)) if c.wants(AlertEvent.REMINDER)]
        rows += [_row(c, incident, AlertEvent.REMINDER, now, reminder_key(incident.pk, k)) for c in reached]
        incident.reminders_sent = k
        incident.add_to_timeline(TimelineKind.REMINDER, now, configs=[c.pk for c in reached], note=f"reminder {k}")
        log.info("escalation_reminder incident_id=%s k=%s configs=%s", incident.pk, k, [c.pk for c in reached])
    incident.next_escalation_at = next_due(incident, policy)
    incident.save(update_fields=["escalation_step", "escalated_at", "reminders_sent", "next_escalation_at", "timeline"])
    if rows:
        # The dedupe keys make a row that somehow exists already a no-op, never a second alert.
        NotificationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return bool(rows)


def _configs(ids: list[int]) -> list[NotificationConfig]:
    """The enabled configs among ``ids``, in that order."""
    found = NotificationConfig.objects.filter(pk__in=ids, enabled=True).in_bulk() if ids else {}
    return [found[pk] for pk in dict.fromkeys(ids) if pk in found]


def rearm(policy: EscalationPolicy) -> int:
    """A policy's steps changed: its servers' open, unacknowledged incidents follow the new
    steps (their next due time recomputed); how many."""
    incidents = list(
        Incident.objects.open().filter(
            server__escalation_policy=policy,
            server__held_by_dependency=False,  # held ones wait for release_held
            acknowledged_at__isnull=True,
            escalation_step__isnull=False,
        )
    )
    for incident in incidents:
        incident.next_escalation_at = next_due(incident, policy)
    Incident.objects.bulk_update(incidents, ["next_escalation_at"])
    return len(incidents)


# --- acknowledging -------------------------------------------------------------------------------


def acknowledge(incident_id: int, *, user: Any = None, by: str | None = None, note: str = "") -> Incident:
    """Acknowledge the open incident: escalation and reminders stop, paging services are told.

    Idempotent: a second acknowledgement changes nothing. Raises ``NotAcknowledgeable`` for a
    closed incident (or one that no longer exists).
    """
    now = timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update(of=("self",)).filter(pk=incident_id).first()
        if incident is None or not incident.is_open:
            raise NotAcknowledgeable("The incident is over: there is nothing to acknowledge.")
        if incident.is_acknowledged:
            return incident
        who = by or (getattr(user, "username", None) if getattr(user, "pk", None) else None)
        incident.acknowledged_at = now
        incident.acknowledged_by = user if getattr(user, "pk", None) else None
        incident.next_escalation_at = None
        notified = _notified_configs([incident.pk]).get(incident.pk, set())
        told = [c for c in _configs(sorted(notified)) if c.notification_type in ACK_NOTIFIED_TYPES]
        incident.add_to_timeline(TimelineKind.ACKNOWLEDGED, now, configs=[c.pk for c in told], by=who, note=note)
        incident.save(update_fields=["acknowledged_at", "acknowledged_by", "next_escalation_at", "timeline"])
        rows = [_row(c, incident, AlertEvent.ACKNOWLEDGED, now, ack_key(incident.pk)) for c in told]
        if rows:
            NotificationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    log.info("incident_acknowledged incident_id=%s by=%s told=%s", incident.pk, who, [c.pk for c in told])
    return incident
