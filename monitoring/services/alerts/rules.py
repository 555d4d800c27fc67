"""When to alert: status changes become incident rows and delivery rows (SPEC §7).

``on_status_changes()`` runs inside the check engine's transaction (``services.engine.recording``),
with the batch's ServerStatus rows locked, so the changes, their incidents and their
deliveries commit together or not at all, and two checks of one server never interleave
here. Sending happens later, from the rows (``services.alerts.delivery``).

A batch costs a fixed number of statements, however many changes it holds (a query per kind,
never per change or per config: ``api/tests/test_query_counts.py`` pins it). Servers share
team configs (SPEC §18) but not incidents or deliveries — a cooldown counts per server and
destination — so a batch is applied in rounds that each hold one
change per server — round ``k`` the ``k``-th change of every server — and each round reads
what its rules need in bulk, decides in memory, and writes in bulk. Almost every batch is
one round; a server checked twice in one batch costs a second round, applied after the first
exactly as one-at-a-time recording would.

The rules:

1. A change to DOWN (from any status) opens an incident and queues a ``down`` alert for
   every enabled config attached to the server whose ``events`` include ``down``. If the server still has an open
   incident (it went down, was paused, and is down again), the outage goes on: no new
   incident and no second alert.
2. A change to UP or DEGRADED while an incident is open closes it and queues a
   ``recovery`` (with the downtime) for every enabled config that takes ``recovery``.
   A first success of a server with no open incident (a new server) sends nothing, and a
   config created during the outage gets no recovery (its DOWN was never alerted).
3. UP → DEGRADED queues a ``degraded`` alert for configs that take ``degraded``.
4. Cooldown: a ``down`` inside ``cooldown_minutes`` of the last one of that server to that destination is
   *deferred* to the end of the cooldown, and sent then only if the outage is still
   going on; a ``degraded`` inside it is suppressed. A recovery is never held back by the
   cooldown; it is suppressed only when the DOWN it ends was never sent, so a flapping
   target costs one DOWN and one recovery per cooldown, and a long outage is never silent.
5. Nothing is queued while the server's ``notifications`` switch is off.
6. A change to MAINTENANCE queues nothing and opens no incident, and the server's DOWN
   alerts not yet sent (pending, or deferred by the cooldown) are suppressed: what would
   have gone out in the window never goes out later (SPEC §12). An incident open before
   the window stays open, so its recovery follows when the server is first up again.
7. A server with an escalation policy sends its DOWN and recovery through the policy
   only (``services.alerts.escalation``: step 0 at once, the recovery to every config
   notified); its own configs take the other events. Every incident's ``timeline`` records
   it was opened and resolved.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus, Status, TimelineKind
from monitoring.models import Incident, NotificationConfig, NotificationDelivery, Server, StatusChange
from monitoring.services.alerts import escalation

log = logging.getLogger(__name__)

# Deliveries that count as "alerted" for the cooldown (deferred and suppressed ones did not go out).
COUNTED = (DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED)
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)


@dataclass(frozen=True)
class Alert:
    """A change that calls for ``event`` (and the outage it belongs to): one row per config that wants it."""

    change: StatusChange
    event: str
    incident: Incident | None


@dataclass(frozen=True)
class DownRow:
    """What a recovery needs to know of the DOWN it ends (rule 4)."""

    pk: int
    status: str


def on_status_changes(changes: Sequence[StatusChange]) -> list[NotificationDelivery]:
    """Open or close the incidents ``changes`` imply and queue their alerts; returns the rows.

    ``changes`` are saved rows in the order they happened; a server may appear more than once.
    """
    rounds: list[list[StatusChange]] = []
    seen: Counter[int] = Counter()
    for change in changes:
        k = seen[change.server_id]
        seen[change.server_id] += 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(change)
    queued: list[NotificationDelivery] = []
    for round_ in rounds:
        queued += _apply_round(round_)
    return queued


def on_status_change(change: StatusChange) -> list[NotificationDelivery]:
    """A batch of one (a pause or resume recorded on its own)."""
    return on_status_changes([change])


def _apply_round(changes: list[StatusChange]) -> list[NotificationDelivery]:
    """Apply changes of distinct servers: rules 1, 2, 3 and 6 here, the rest in ``_queue``."""
    held = [c.server_id for c in changes if c.status == Status.MAINTENANCE]
    if held:
        _suppress_pending_downs(held)
    moving = [c for c in changes if c.status in (Status.DOWN, Status.UP, Status.DEGRADED)]
    if not moving:
        return []
    server_ids = {c.server_id for c in moving}
    open_incidents = {i.server_id: i for i in Incident.objects.open().filter(server_id__in=server_ids)}
    opened: list[Incident] = []
    closed: list[Incident] = []
    alerts: list[Alert] = []
    for change in moving:
        incident = open_incidents.get(change.server_id)
        if change.status == Status.DOWN:
            if incident is not None:
                log.info("incident_continues server_id=%s change_id=%s", change.server_id, change.pk)
                continue
            incident = Incident(
                server_id=change.server_id,
                started_at=change.changed_at,
                first_error=change.message[:500],
                opening_change=change,
            )
            incident.add_to_timeline(TimelineKind.OPENED, change.changed_at, note=incident.first_error)
            opened.append(incident)
            alerts.append(Alert(change, AlertEvent.DOWN, incident))
        elif incident is not None:
            incident.close(change.changed_at, change)
            incident.add_to_timeline(TimelineKind.RESOLVED, change.changed_at)
            closed.append(incident)
            alerts.append(Alert(change, AlertEvent.RECOVERY, incident))
        elif change.status == Status.DEGRADED and change.previous_status == Status.UP:
            alerts.append(Alert(change, AlertEvent.DEGRADED, None))
    if opened:
        Incident.objects.bulk_create(opened)
    if closed:
        Incident.objects.bulk_update(
            closed, ["ended_at", "closing_change", "duration_seconds", "next_escalation_at", "timeline"]
        )
    return _queue(alerts)


def _suppress_pending_downs(server_ids: list[int]) -> int:
    """Suppress the servers' DOWN deliveries that have not gone out and no sender holds now."""
    count = (
        NotificationDelivery.objects.filter(
            Q(change__server_id__in=server_ids) | Q(incident__server_id__in=server_ids),
            event__in=(AlertEvent.DOWN, AlertEvent.REMINDER),
            status__in=WAITING,
            delivered_at__isnull=True,
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=timezone.now()))
        .update(status=DeliveryStatus.SUPPRESSED, last_error="suppressed: the server entered a maintenance window")
    )
    if count:
        log.info("alerts_suppressed server_ids=%s count=%s", server_ids, count)
    return count


def _queue(alerts: list[Alert]) -> list[NotificationDelivery]:
    """One delivery row per enabled config that wants each alert, decided by the rules above."""
    if not alerts:
        return []
    # Read the switch afresh: the Server object the checker holds may predate an API change.
    loud = dict(
        Server.objects.filter(pk__in={a.change.server_id for a in alerts}, notifications=True).values_list(
            "pk", "escalation_policy_id"
        )
    )
    alerts = [a for a in alerts if a.change.server_id in loud]
    alerts, escalated = _split_escalated(alerts, loud)
    return escalation.queue_policy_alerts(escalated) + _queue_to_configs(alerts)


def _split_escalated(
    alerts: list[Alert], policies: dict[int, int | None]
) -> tuple[list[Alert], list[escalation.PolicyAlert]]:
    """(alerts for the servers' own configs, DOWNs and recoveries that go through a policy) (rule 7)."""
    own: list[Alert] = []
    escalated: list[escalation.PolicyAlert] = []
    for alert in alerts:
        policy_id = policies.get(alert.change.server_id)
        incident = alert.incident
        # A recovery follows the way its DOWN went, even if the server's policy changed since.
        through_policy = (alert.event == AlertEvent.DOWN and policy_id) or (
            alert.event == AlertEvent.RECOVERY and (policy_id or incident and incident.escalation_step is not None)
        )
        if through_policy and incident is not None:
            escalated.append(escalation.PolicyAlert(alert.change, alert.event, incident, policy_id or 0))
        else:
            own.append(alert)
    return own, escalated


def _queue_to_configs(alerts: list[Alert]) -> list[NotificationDelivery]:
    """Rules 2-4 for the servers' own configs."""
    if not alerts:
        return []
    # The team configs attached to each server (SPEC §18), in one query for the batch.
    configs = NotificationConfig.objects.of_servers(a.change.server_id for a in alerts)
    wanted = [
        (alert, config)
        for alert in alerts
        for config in configs.get(alert.change.server_id, [])
        if config.wants(alert.event)
    ]
    if not wanted:
        return []
    last = _last_alerted(
        (config.pk, alert.change.server_id, alert.event)
        for alert, config in wanted
        if alert.event != AlertEvent.RECOVERY
    )
    downs = _downs_ended(
        (config.pk, alert.incident.pk)
        for alert, config in wanted
        if alert.event == AlertEvent.RECOVERY and alert.incident is not None
    )
    recovered = _take_deferred_downs([down.pk for down in downs.values() if down.status == DeliveryStatus.DEFERRED])
    rows = []
    for alert, config in wanted:
        at = alert.change.changed_at
        if alert.event == AlertEvent.RECOVERY:
            incident = alert.incident
            down = downs.get((config.pk, incident.pk)) if incident is not None else None
            status, when, why = _decide_recovery(config, incident, down, recovered, at)
        else:
            status, when, why = _decide(
                config, alert.event, last.get((config.pk, alert.change.server_id, alert.event)), at
            )
        rows.append(
            NotificationDelivery(
                config=config,
                change=alert.change,
                incident=alert.incident,
                event=alert.event,
                status=status,
                next_attempt_at=when,
                last_error=why,
                created_at=at,
            )
        )
    created = NotificationDelivery.objects.bulk_create(rows)
    for row in created:
        log.info(
            "alert_queued server_id=%s change_id=%s config_id=%s event=%s status=%s",
            row.change.server_id,
            row.change_id,
            row.config_id,
            row.event,
            row.status,
        )
    return created


def _decide(config: NotificationConfig, event: str, last: datetime | None, at: datetime) -> tuple[str, datetime, str]:
    """(status, next_attempt_at, note) for a new ``down`` or ``degraded`` to ``config``, last alerted at ``last``."""
    cooldown = timedelta(minutes=config.cooldown_minutes)
    if last is None or not cooldown or at >= last + cooldown:
        return DeliveryStatus.PENDING, at, ""
    if event == AlertEvent.DOWN:
        release = last + cooldown
        note = f"held by the {config.cooldown_minutes}-minute cooldown; sent at {release:%H:%M:%S} if still down"
        return DeliveryStatus.DEFERRED, release, note
    return DeliveryStatus.SUPPRESSED, at, f"suppressed by the {config.cooldown_minutes}-minute cooldown"


def _decide_recovery(
    config: NotificationConfig, incident: Incident | None, down: DownRow | None, recovered: set[int], at: datetime
) -> tuple[str, datetime, str]:
    """(status, next_attempt_at, note) for a recovery to ``config`` that ends ``down``'s outage."""
    if down is None and incident is not None and config.created_at > incident.started_at:
        # Added while the server was already down: this destination never heard of the DOWN.
        return DeliveryStatus.SUPPRESSED, at, "suppressed: the destination was added during the outage"
    if down is None or down.status not in (DeliveryStatus.SUPPRESSED, DeliveryStatus.DEFERRED):
        return DeliveryStatus.PENDING, at, ""
    if down.status == DeliveryStatus.DEFERRED and down.pk not in recovered:
        # A sender claimed that DOWN before we could suppress it: the recovery must follow it.
        return DeliveryStatus.PENDING, at, ""
    return DeliveryStatus.SUPPRESSED, at, "suppressed: the DOWN alert it ends was held back by the cooldown"


def _last_alerted(keys: Iterable[tuple[int, int, str]]) -> dict[tuple[int, int, str], datetime]:
    """When each (config, server, event) last went (or is going) out: delivered, else queued. One query.

    The cooldown is per server as well as per destination: a config serves many servers, and
    one server's outage must not hold back another's (as separate per-server configs never did).
    """
    keys = set(keys)
    if not keys:
        return {}
    found = (
        NotificationDelivery.objects.filter(
            config_id__in={c for c, _, _ in keys},
            change__server_id__in={s for _, s, _ in keys},
            event__in={e for _, _, e in keys},
            status__in=COUNTED,
        )
        .order_by()
        .values_list("config_id", "change__server_id", "event")
        .annotate(last=Max(Coalesce("delivered_at", "created_at")))
    )
    return {(config_id, server_id, event): last for config_id, server_id, event, last in found}


def _downs_ended(keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], DownRow]:
    """The DOWN delivery of each (config, incident) that recoveries end. One query."""
    keys = set(keys)
    if not keys:
        return {}
    found = (
        NotificationDelivery.objects.filter(
            config_id__in={c for c, _ in keys}, incident_id__in={i for _, i in keys}, event=AlertEvent.DOWN
        )
        .order_by("created_at", "id")
        .values_list("config_id", "incident_id", "pk", "status")
    )
    # The newest wins, as a lookup of one would take (there is at most one per outage).
    return {(c, i): DownRow(pk, status) for c, i, pk, status in found if (c, i) in keys}


def _take_deferred_downs(pks: list[int]) -> set[int]:
    """Suppress DOWNs still held by the cooldown whose outage ended; the ones we got.

    A sender may be claiming one of them right now (its cooldown just ended); whoever changes
    its status first wins. Those we suppress never go out and neither do their recoveries; one
    the sender took goes out, and its recovery must follow it.
    """
    if not pks:
        return set()
    won = NotificationDelivery.objects.filter(pk__in=pks, status=DeliveryStatus.DEFERRED).update(
        status=DeliveryStatus.SUPPRESSED, last_error="suppressed: recovered within the cooldown"
    )
    if won == len(pks):
        return set(pks)
    # Rare: a sender got some first. The rows we suppressed say so; it cannot undo that.
    return set(
        NotificationDelivery.objects.filter(pk__in=pks, status=DeliveryStatus.SUPPRESSED).values_list("pk", flat=True)
    )
