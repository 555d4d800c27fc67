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
8. Maintenance (SPEC §18): a change to MAINTENANCE queues a ``maintenance_start`` and a change
   out of it a ``maintenance_end`` for every config that takes the event
   (``NotificationConfig.wants``), whatever the cooldown.
9. Dependencies (SPEC §18, ``suppress_for_dependencies``): a DOWN of a server while one of
   its ``depends_on`` is DOWN is recorded (incident and delivery rows) but its deliveries are
   ``suppressed`` with "depends on <name>, which is down", and the server is marked
   ``held_by_dependency``. Its first failing check once no dependency is down sends them
   (``release_held_downs``, once). Its recovery, if nothing was sent, is suppressed too:
   nobody was told it was down. A server with a policy is held the same way (its step 0
   suppressed, its escalation waiting: ``escalation.release_held``).
10. Flood control (SPEC §18, ``services.alerts.grouping``): in a team with more servers than
   ALERT_GROUP_THRESHOLD, a DOWN waits ALERT_GROUP_HOLD_SECONDS (and so does the recovery
   of a DOWN that went out in a group), so that the sender can put a flood in one message.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus, Status, TimelineKind
from monitoring.models import Incident, NotificationConfig, NotificationDelivery, Server, StatusChange
from monitoring.services.alerts import escalation

log = logging.getLogger(__name__)

# Events the cooldown holds back (rule 4).
COOLED = (AlertEvent.DOWN, AlertEvent.DEGRADED)
# Deliveries that count as "alerted" for the cooldown (deferred and suppressed ones did not go out).
COUNTED = (DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.GROUPED)
# The reason a DOWN held back by a down dependency carries; release_held_downs finds them by it.
DEPENDENCY_NOTE = "depends on {name}, which is down"
DEPENDENCY_PREFIX = "depends on "
Dependency = Server.depends_on.through
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
    group_id: int | None = None
    note: str = ""


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
    _clear_dependency_holds(changes)
    alerts: list[Alert] = maintenance_alerts(changes)
    moving = [c for c in changes if c.status in (Status.DOWN, Status.UP, Status.DEGRADED)]
    if not moving:
        return _queue(alerts)
    server_ids = {c.server_id for c in moving}
    open_incidents = {i.server_id: i for i in Incident.objects.open().filter(server_id__in=server_ids)}
    opened: list[Incident] = []
    closed: list[Incident] = []
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


def maintenance_alerts(changes: Iterable[StatusChange]) -> list[Alert]:
    """Rule 8: a ``maintenance_start`` for each change into a window, a ``maintenance_end`` out of one."""
    alerts = []
    for change in changes:
        if change.status == Status.MAINTENANCE and change.previous_status != Status.MAINTENANCE:
            alerts.append(Alert(change, AlertEvent.MAINTENANCE_START, None))
        elif change.previous_status == Status.MAINTENANCE and change.status != Status.MAINTENANCE:
            alerts.append(Alert(change, AlertEvent.MAINTENANCE_END, None))
    return alerts


def _clear_dependency_holds(changes: Iterable[StatusChange]) -> None:
    """A server held by a dependency that leaves DOWN is held no more (no statement unless one was)."""
    freed = [c.server_id for c in changes if c.status != Status.DOWN and c.server.held_by_dependency]
    if freed:
        Server.objects.filter(pk__in=freed).update(held_by_dependency=False)
        for change in changes:
            if change.server_id in freed:
                change.server.held_by_dependency = False


def dependencies_down(server_ids: Iterable[int]) -> dict[int, str]:
    """For each of ``server_ids`` with a dependency now DOWN, the name of one (the first by name). One query."""
    server_ids = set(server_ids)
    if not server_ids:
        return {}
    found: dict[int, str] = {}
    rows = (
        Dependency.objects.filter(from_server_id__in=server_ids, to_server__status=Status.DOWN)
        .order_by("to_server__name", "to_server_id")
        .values_list("from_server_id", "to_server__name")
    )
    for server_id, name in rows:
        found.setdefault(server_id, name)
    return found


def suppress_for_dependencies(rows: list[NotificationDelivery]) -> set[int]:
    """Rule 9: suppress the DOWN rows of servers with a dependency down; the servers held.

    The rows are not saved yet; the servers are marked ``held_by_dependency`` (one UPDATE, only
    when there are some) so that ``release_held_downs`` knows to look at them.
    """
    downs = [row for row in rows if row.event == AlertEvent.DOWN]
    blocked = dependencies_down({row.change.server_id for row in downs})
    if not blocked:
        return set()
    suppressed: dict[int, list[NotificationDelivery]] = {}
    for row in downs:
        name = blocked.get(row.change.server_id)
        if name is not None:
            row.status = DeliveryStatus.SUPPRESSED
            row.last_error = DEPENDENCY_NOTE.format(name=name)
            if row.incident is not None:
                suppressed.setdefault(row.incident.pk, []).append(row)
    # SPEC §18: a suppressed alert is also a ``suppressed`` entry of its incident's timeline, with the reason.
    incidents = []
    for found in suppressed.values():
        incident = found[0].incident
        incident.add_to_timeline(
            TimelineKind.SUPPRESSED,
            found[0].change.changed_at,
            configs=[r.config_id for r in found],
            note=found[0].last_error,
        )
        incidents.append(incident)
    if incidents:
        Incident.objects.bulk_update(incidents, ["timeline"])
    held = set(blocked)
    Server.objects.filter(pk__in=held).update(held_by_dependency=True)
    log.info("alerts_held_by_dependency server_ids=%s", sorted(held))
    return held


def release_held_downs(server_ids: Iterable[int], now: datetime | None = None) -> int:
    """Rule 9, later: send the DOWNs a dependency held back, for those of ``server_ids`` (held
    servers whose check failed again) that no longer have a dependency down. Returns the rows released.

    Runs in the check's transaction with the servers locked; the flag is cleared in the same
    transaction, so the rows go out once. A server whose dependency is still down stays held.
    """
    server_ids = set(server_ids)
    free = server_ids - set(dependencies_down(server_ids))
    if not free:
        return 0
    now = now or timezone.now()
    released = NotificationDelivery.objects.filter(
        change__server_id__in=free,
        event=AlertEvent.DOWN,
        status=DeliveryStatus.SUPPRESSED,
        incident__ended_at__isnull=True,
        last_error__startswith=DEPENDENCY_PREFIX,
    ).update(
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        last_error="held while a dependency was down; still down after it recovered",
    )
    Server.objects.filter(pk__in=free).update(held_by_dependency=False)
    escalation.release_held(free, now)
    log.info("alerts_released server_ids=%s count=%s", sorted(free), released)
    return released


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
    loud = {
        pk: (policy_id, team_id)
        for pk, policy_id, team_id in Server.objects.filter(
            pk__in={a.change.server_id for a in alerts}, notifications=True
        ).values_list("pk", "escalation_policy_id", "team_id")
    }
    alerts = [a for a in alerts if a.change.server_id in loud]
    alerts, escalated = _split_escalated(alerts, {pk: policy for pk, (policy, _) in loud.items()})
    teams = {pk: team for pk, (_, team) in loud.items()}
    held = _held_policy_servers(escalated)
    return escalation.queue_policy_alerts(escalated, held) + _queue_to_configs(alerts, teams)


def _held_policy_servers(escalated: list[escalation.PolicyAlert]) -> dict[int, str]:
    """Rule 9 for servers with a policy: those whose DOWN a dependency holds back, with the reason,
    marked ``held_by_dependency`` like the others (one query, and one UPDATE only when some are)."""
    blocked = dependencies_down({a.change.server_id for a in escalated if a.event == AlertEvent.DOWN})
    if not blocked:
        return {}
    Server.objects.filter(pk__in=blocked).update(held_by_dependency=True)
    return {pk: DEPENDENCY_NOTE.format(name=name) for pk, name in blocked.items()}


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


def _queue_to_configs(alerts: list[Alert], teams: dict[int, int]) -> list[NotificationDelivery]:
    """Rules 2-4, 9 and 10 for the servers' own configs (``teams``: each server's team)."""
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
        (config.pk, alert.change.server_id, alert.event) for alert, config in wanted if alert.event in COOLED
    )
    downs = _downs_ended(
        (config.pk, alert.incident.pk)
        for alert, config in wanted
        if alert.event == AlertEvent.RECOVERY and alert.incident is not None
    )
    recovered = _take_deferred_downs([down.pk for down in downs.values() if down.status == DeliveryStatus.DEFERRED])
    floodable = _floodable_teams(
        {teams[alert.change.server_id] for alert, _ in wanted if alert.event == AlertEvent.DOWN}
    )
    hold = timedelta(seconds=settings.ALERT_GROUP_HOLD_SECONDS)
    rows = []
    for alert, config in wanted:
        at = alert.change.changed_at
        if alert.event == AlertEvent.RECOVERY:
            incident = alert.incident
            down = downs.get((config.pk, incident.pk)) if incident is not None else None
            status, when, why = _decide_recovery(config, incident, down, recovered, at)
            if status == DeliveryStatus.PENDING and down is not None and down.group_id is not None:
                when = at + hold  # rule 10: recoveries of a flood go out together
        elif alert.event in COOLED:
            status, when, why = _decide(
                config, alert.event, last.get((config.pk, alert.change.server_id, alert.event)), at
            )
            held = alert.event == AlertEvent.DOWN and teams[alert.change.server_id] in floodable
            if held and status == DeliveryStatus.PENDING:
                when = at + hold  # rule 10
        else:
            status, when, why = DeliveryStatus.PENDING, at, ""
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
    suppress_for_dependencies(rows)
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


def _floodable_teams(team_ids: set[int]) -> set[int]:
    """Rule 10: the teams with more servers than ALERT_GROUP_THRESHOLD (only they can flood). One query."""
    if not team_ids or not settings.ALERT_GROUP_HOLD_SECONDS:
        return set()
    sizes = (
        Server.objects.filter(team_id__in=team_ids)
        .order_by()
        .values("team_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=settings.ALERT_GROUP_THRESHOLD)
        .values_list("team_id", flat=True)
    )
    return set(sizes)


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
    if down.note.startswith(DEPENDENCY_PREFIX):
        # Rule 9: nobody was told it was down, so nobody is told it is back.
        return DeliveryStatus.SUPPRESSED, at, f"suppressed: its DOWN alert was not sent ({down.note})"
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
        .values_list("config_id", "incident_id", "pk", "status", "group_id", "last_error")
    )
    # The newest wins, as a lookup of one would take (there is at most one per outage).
    return {(c, i): DownRow(pk, status, group_id, note) for c, i, pk, status, group_id, note in found if (c, i) in keys}


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
