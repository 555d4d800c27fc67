"""When to alert: a status change becomes incident rows and delivery rows (SPEC §7).

``on_status_change()`` runs inside the check engine's transaction, with the server's
ServerStatus row locked, so the change, its incident and its deliveries commit together
or not at all, and two checks of one server never interleave here. Sending happens later,
from the rows (``services.delivery``).

The rules:

1. A change to DOWN (from any status) opens an incident and queues a ``down`` alert for
   every enabled config with ``notify_on_failure``. If the server still has an open
   incident (it went down, was paused, and is down again), the outage goes on: no new
   incident and no second alert.
2. A change to UP or DEGRADED while an incident is open closes it and queues a
   ``recovery`` (with the downtime) for every enabled config with ``notify_on_recovery``.
   A first success of a server with no open incident (a new server) sends nothing, and a
   config created during the outage gets no recovery (its DOWN was never alerted).
3. UP → DEGRADED queues a ``degraded`` alert for configs with ``notify_on_degraded``.
4. Cooldown: a ``down`` inside ``cooldown_minutes`` of the last one to that destination is
   *deferred* to the end of the cooldown, and sent then only if the outage is still
   going on; a ``degraded`` inside it is suppressed. A recovery is never held back by the
   cooldown; it is suppressed only when the DOWN it ends was never sent, so a flapping
   target costs one DOWN and one recovery per cooldown, and a long outage is never silent.
5. Nothing is queued while the server's ``notifications`` switch is off.
6. A change to MAINTENANCE queues nothing and opens no incident, and the server's DOWN
   alerts not yet sent (pending, or deferred by the cooldown) are suppressed: what would
   have gone out in the window never goes out later (SPEC §12). An incident open before
   the window stays open, so its recovery follows when the server is first up again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus, Status
from monitoring.models import Incident, NotificationConfig, NotificationDelivery, Server, StatusChange

log = logging.getLogger(__name__)

# The config switch each event honours.
EVENT_FLAGS = {
    AlertEvent.DOWN: "notify_on_failure",
    AlertEvent.RECOVERY: "notify_on_recovery",
    AlertEvent.DEGRADED: "notify_on_degraded",
}
# Deliveries that count as "alerted" for the cooldown (deferred and suppressed ones did not go out).
COUNTED = (DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED)


def on_status_change(change: StatusChange) -> list[NotificationDelivery]:
    """Open or close the incident this change implies and queue its alerts; returns the rows."""
    if change.status == Status.DOWN:
        if Incident.objects.open().filter(server_id=change.server_id).exists():
            log.info("incident_continues server_id=%s change_id=%s", change.server_id, change.pk)
            return []
        incident = Incident.objects.create(
            server_id=change.server_id,
            started_at=change.changed_at,
            first_error=change.message[:500],
            opening_change=change,
        )
        return _queue(change, AlertEvent.DOWN, incident)

    if change.status == Status.MAINTENANCE:
        _suppress_pending_downs(change)
        return []

    if change.status in (Status.UP, Status.DEGRADED):
        incident = Incident.objects.open().filter(server_id=change.server_id).first()
        if incident is not None:
            incident.close(change.changed_at, change)
            incident.save(update_fields=["ended_at", "closing_change", "duration_seconds"])
            return _queue(change, AlertEvent.RECOVERY, incident)
        if change.status == Status.DEGRADED and change.previous_status == Status.UP:
            return _queue(change, AlertEvent.DEGRADED, None)
    return []


def _suppress_pending_downs(change: StatusChange) -> int:
    """Suppress the server's DOWN deliveries that have not gone out and no sender holds now."""
    count = (
        NotificationDelivery.objects.filter(
            config__server_id=change.server_id,
            event=AlertEvent.DOWN,
            status__in=(DeliveryStatus.PENDING, DeliveryStatus.DEFERRED),
            delivered_at__isnull=True,
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=timezone.now()))
        .update(status=DeliveryStatus.SUPPRESSED, last_error="suppressed: the server entered a maintenance window")
    )
    if count:
        log.info("alerts_suppressed server_id=%s change_id=%s count=%s", change.server_id, change.pk, count)
    return count


def _queue(change: StatusChange, event: str, incident: Incident | None) -> list[NotificationDelivery]:
    """One delivery row per enabled config that wants ``event``, decided by the rules above."""
    # Read the switch afresh: the Server object the checker holds may predate an API change.
    if not Server.objects.filter(pk=change.server_id, notifications=True).exists():
        return []
    configs = NotificationConfig.objects.filter(server_id=change.server_id, enabled=True, **{EVENT_FLAGS[event]: True})
    rows = []
    for config in configs:
        status, when, why = _decide(config, event, change, incident)
        rows.append(
            NotificationDelivery(
                config=config,
                change=change,
                incident=incident,
                event=event,
                status=status,
                next_attempt_at=when,
                last_error=why,
                created_at=change.changed_at,
            )
        )
    created = NotificationDelivery.objects.bulk_create(rows)
    for row in created:
        log.info(
            "alert_queued server_id=%s change_id=%s config_id=%s event=%s status=%s",
            change.server_id,
            change.pk,
            row.config_id,
            event,
            row.status,
        )
    return created


def _decide(
    config: NotificationConfig, event: str, change: StatusChange, incident: Incident | None
) -> tuple[str, datetime, str]:
    """(status, next_attempt_at, note) for a new delivery of ``event`` to ``config``."""
    at = change.changed_at
    if event == AlertEvent.RECOVERY:
        return _decide_recovery(config, incident, at)
    last = _last_alerted(config, event)
    cooldown = timedelta(minutes=config.cooldown_minutes)
    if last is None or not cooldown or at >= last + cooldown:
        return DeliveryStatus.PENDING, at, ""
    if event == AlertEvent.DOWN:
        release = last + cooldown
        note = f"held by the {config.cooldown_minutes}-minute cooldown; sent at {release:%H:%M:%S} if still down"
        return DeliveryStatus.DEFERRED, release, note
    return DeliveryStatus.SUPPRESSED, at, f"suppressed by the {config.cooldown_minutes}-minute cooldown"


def _decide_recovery(config: NotificationConfig, incident: Incident | None, at: datetime) -> tuple[str, datetime, str]:
    down = NotificationDelivery.objects.filter(config=config, incident=incident, event=AlertEvent.DOWN).first()
    if down is None and incident is not None and config.created_at > incident.started_at:
        # Added while the server was already down: this destination never heard of the DOWN.
        return DeliveryStatus.SUPPRESSED, at, "suppressed: the destination was added during the outage"
    if down is None or down.status not in (DeliveryStatus.SUPPRESSED, DeliveryStatus.DEFERRED):
        return DeliveryStatus.PENDING, at, ""
    if down.status == DeliveryStatus.DEFERRED:
        # The sender may be claiming that DOWN right now; whoever changes its status first
        # wins. If we do, neither goes out; if the sender did, the recovery must follow it.
        won = NotificationDelivery.objects.filter(pk=down.pk, status=DeliveryStatus.DEFERRED).update(
            status=DeliveryStatus.SUPPRESSED, last_error="suppressed: recovered within the cooldown"
        )
        if not won:
            return DeliveryStatus.PENDING, at, ""
    return DeliveryStatus.SUPPRESSED, at, "suppressed: the DOWN alert it ends was held back by the cooldown"


def _last_alerted(config: NotificationConfig, event: str) -> datetime | None:
    """When ``event`` last went (or is going) out to ``config``: delivered, else queued."""
    return NotificationDelivery.objects.filter(config=config, event=event, status__in=COUNTED).aggregate(
        last=Max(Coalesce("delivered_at", "created_at"))
    )["last"]
