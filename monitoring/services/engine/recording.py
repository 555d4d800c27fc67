"""Recording results: one ``record(batch)`` writes many in one transaction (SPEC §9), and is the only
writer of a server's status and schedule.

Whatever produced a result (the engine's checks, check-now, a push, a missed push deadline, a
maintenance window starting) or changed how a server is checked (pause, resume, an edit) hands
it here as a ``CheckResult``; "check now" is a batch of one. Per batch:

0. Lock the batch's Server rows, in id order (``_lock_servers``). A server deleted meanwhile is
   left out quietly (a delete locks the same rows first, so it waits for us or we for it); so is
   a claimed result whose lease another process has taken over (it re-runs that check). Move
   the schedule: a claimed check's server to its next due time, ending its lease; a pause,
   resume or rescheduling edit as ``_schedule`` says.
   A result from an agent's location (SPEC §20) holds its lease on that server's
   ``ServerLocation`` row instead (``_lock_locations``), which moves on the same way; a result
   an agent kept through an outage (no lease) moves it forward only.
1. Lock the batch's ServerStatus rows (ordered by server id, so two batches never deadlock);
   a check-now racing the scheduler for one server applies after it, not over it.
   Read the maintenance windows reaching the batch's servers (``services.engine.maintenance``).
2. Bulk insert the PingResults (an ``Event`` has none), each marked ``maintenance`` when a
   window covered its server at its time; move push deadlines (``push_deadline_at``).
3. Run each result through ``transitions.evaluate`` in batch order (a server twice in one
   batch is evaluated twice, as one-at-a-time recording would), with its window as input, and
   the server's locations' states when it has ``ServerLocation`` rows (written back in step 5).
   Checks in a window do not count toward ``ServerStatus.uptime_percentage``.
4. For the results that changed status only: bulk insert StatusChange rows, move
   ``Server.status``, and let ``services.alerts.rules`` open or close incidents and queue deliveries.
5. Write the ServerStatus rows, one prepared UPDATE per row, then count the batch's checks for
   /metrics (``services.history.metrics``).
6. After commit, publish the whole batch to the live feeds once (an ``Event`` that changed the
   status as a status event), and renew the public pages of the teams whose servers changed
   status (``models.statuspages.public_pages_changed``).

The rows are exactly those that recording each result alone, in order, would write
(``test_recording`` holds it to that).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from monitoring.choices import Status
from monitoring.models import (
    LocationStatus,
    MaintenanceWindow,
    PingResult,
    ProbeLocation,
    Server,
    ServerLocation,
    ServerStatus,
    StatusChange,
)
from monitoring.models.statuspages import public_pages_changed
from monitoring.services.alerts import rules
from monitoring.services.engine import maintenance
from monitoring.services.engine.transitions import (
    LocationsChanged,
    LocationState,
    Outcome,
    Pause,
    Policy,
    ProbeOutcome,
    Reschedule,
    Resume,
    State,
    evaluate,
)
from monitoring.services.history import metrics
from monitoring.services.live import publish

log = logging.getLogger(__name__)

STATUS_FIELDS = [
    "status",
    "uptime_percentage",
    "total_checks",
    "failed_checks",
    "last_check",
    "last_response_time",
    "consecutive_failures",
    "message",
    "last_status_change",
    "updated_at",
]


@dataclass(frozen=True)
class CheckResult:
    """One finished check to record: the server, what was seen and when.

    ``checked_at`` becomes ``PingResult.check_timestamp`` and ``ServerStatus.last_check``.
    ``due_at`` and ``started_at`` are set by the scheduler (start − due is the lateness).
    A result of a claimed check (``tasks.claims``) names its ``lease_owner`` and the
    ``next_due_at`` to move the server to; it is recorded only while that lease still holds.
    Other checks (a push, a ``WindowStart``, check-now) never touch ``next_check_at`` or the
    lease; a ``Pause``, ``Resume`` or ``Reschedule`` moves both (``_schedule``).
    ``push_deadline_at``, set for a push, is the server's next push deadline, written in the
    same transaction (SPEC §11), ending the run a ``/start`` began (``Server.push_started_at``).
    ``body`` is kept with the PingResult (a push's POST body, SPEC §19).
    ``location`` is the probe location it ran from (SPEC §20); None is the scheduler's own
    (``PROBE_LOCATION``), whose schedule and lease are the Server row's.
    """

    server: Server
    outcome: Outcome
    checked_at: datetime
    due_at: datetime | None = None
    started_at: datetime | None = None
    push_deadline_at: datetime | None = None
    lease_owner: str = ""
    next_due_at: datetime | None = None
    body: str = ""
    location: ProbeLocation | None = None

    @property
    def lateness(self) -> float | None:
        """Seconds between when the check was due and when it started; None outside the scheduler."""
        if self.due_at is None or self.started_at is None:
            return None
        return max(0.0, (self.started_at - self.due_at).total_seconds())


@dataclass(frozen=True)
class CheckRecord:
    """What ``record`` wrote for one result (``ping`` is None for an ``Event``)."""

    ping: PingResult | None
    state: ServerStatus
    change: StatusChange | None


#: Called with each batch's saved changes inside the engine's transaction, after the alert rules.
CHANGE_LISTENERS: list[Callable[[list[StatusChange]], object]] = []


def record(batch: Sequence[CheckResult]) -> list[CheckRecord]:
    """Write ``batch`` in one transaction (steps in the module docstring); one record per result, in
    order, leaving out the results of deleted servers and claimed results whose lease another
    process has taken over (it re-runs them)."""
    if not batch:
        return []
    with transaction.atomic():
        batch, located = _lock_servers(batch)
        batch, places = _lock_locations(batch, located)
        ids = sorted({r.server.pk for r in batch})
        states = {
            s.server_id: s
            for s in ServerStatus.objects.select_for_update().filter(server_id__in=ids).order_by("server_id")
        }
        batch = [r for r in batch if r.server.pk in states]
        if not batch:
            return []
        _schedule(batch, states, places)
        reaching = maintenance.windows_for({r.server.pk: r.server for r in batch}.values())
        windows = [maintenance.active_window(reaching.get(r.server.pk, ()), r.checked_at) for r in batch]
        checked = [(r, w) for r, w in zip(batch, windows, strict=True) if isinstance(r.outcome, ProbeOutcome)]
        created = iter(
            _insert_pings(
                [
                    PingResult(
                        server=r.server,
                        status=r.outcome.status,
                        response_time=r.outcome.response_time,
                        status_code=r.outcome.status_code,
                        error_message=r.outcome.error_message,
                        check_timestamp=r.checked_at,
                        maintenance=w is not None,
                        body=r.body,
                        value=r.outcome.value,
                        detail=r.outcome.detail,
                        location=r.location,
                    )
                    for r, w in checked
                ]
            )
        )
        pings = [next(created) if isinstance(r.outcome, ProbeOutcome) else None for r in batch]
        _move_push_deadlines(batch)
        changes: list[StatusChange | None] = []
        pending: list[StatusChange] = []
        for result, ping, window in zip(batch, pings, windows, strict=True):
            state = states[result.server.pk]
            change = _apply(result, state, ping, window, places.get(result.server.pk))
            changes.append(change)
            if change is not None:
                pending.append(change)
        if pending:
            _write_changes(batch, changes)
        _release_held(batch, changes, states)
        updated = timezone.now()
        for state in states.values():
            state.updated_at = updated
        _update_states(list(states.values()))
        _update_locations(places)
        # Last write of the transaction: it holds a counter shard's lock row until commit.
        # Only checks count (an Event is none); push results have no due time, so no lateness.
        checked = [r for r in batch if isinstance(r.outcome, ProbeOutcome)]
        lateness = [r.lateness for r in checked if r.lateness is not None]
        metrics.count_checks([r.outcome.status for r in checked], lateness)  # type: ignore[union-attr]
        # A server checked twice in one batch reports its final state for both.
        records = [
            CheckRecord(ping, states[r.server.pk], change)
            for r, ping, change in zip(batch, pings, changes, strict=True)
        ]
        published = [(r.server, rec.ping, rec.state) for r, rec in zip(batch, records, strict=True) if rec.ping]
        entered = [(r.server, rec.state) for r, rec in zip(batch, records, strict=True) if not rec.ping and rec.change]
        changed = {r.server.team_id for r, rec in zip(batch, records, strict=True) if rec.change}
        transaction.on_commit(lambda: _publish(published, entered, changed))
    return records


def _publish(
    checks: list[tuple[Server, PingResult | None, ServerStatus]],
    entered: list[tuple[Server, ServerStatus]],
    changed_teams: set[int],
) -> None:
    if changed_teams:  # public pages and badges show statuses: renewed outside the row locks
        public_pages_changed(*changed_teams)
    if checks:
        publish.publish_checks(checks)  # type: ignore[arg-type]
    for server, state in entered:
        publish.publish_status(server, state)


def _lock_servers(batch: Sequence[CheckResult]) -> tuple[list[CheckResult], set[int]]:
    """Step 0: lock the batch's servers (id order) and keep the results still to record: not those
    of a server deleted meanwhile, nor a claimed result whose lease is no longer its owner's. Move
    each kept claimed check's server to its next due time and end the lease. Answer the kept
    results and the ids of the servers that have ``ServerLocation`` rows (read with the lock, so
    a batch of servers with none costs no statement for them, ``_lock_locations``)."""
    ids = sorted({r.server.pk for r in batch})
    rows = Server.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
    located_rows = ServerLocation.objects.filter(server_id=OuterRef("pk"))
    leases = {
        pk: (owner, active, held, located)
        for pk, owner, active, held, located in rows.annotate(located=Exists(located_rows)).values_list(
            "pk", "lease_owner", "is_active", "held_by_dependency", "located"
        )
    }
    kept = []
    for result in batch:
        if result.server.pk not in leases:
            log.info("record_skipped server_id=%s (deleted)", result.server.pk)
        elif result.location is None and result.lease_owner and leases[result.server.pk][0] != result.lease_owner:
            log.warning("claim_lost server_id=%s due=%s (lease taken over)", result.server.pk, result.due_at)
        else:
            result.server.is_active = leases[result.server.pk][1]
            result.server.held_by_dependency = leases[result.server.pk][2]
            kept.append(result)
    won = [r for r in kept if r.lease_owner and r.location is None]
    if won:
        _update_rows(
            Server,
            [
                ("next_check_at", "COALESCE({new}, {old})"),
                ("spread_seconds", "0"),
                ("lease_owner", "''"),
                ("lease_until", "NULL"),
            ],
            [(r.server.pk, r.next_due_at) for r in won],
        )
        for r in won:
            r.server.lease_owner, r.server.lease_until = "", None
            if r.next_due_at is not None:
                r.server.next_check_at, r.server.spread_seconds = r.next_due_at, 0.0
    return kept, {pk for pk, lease in leases.items() if lease[3]}


def _lock_locations(
    batch: list[CheckResult], located: set[int]
) -> tuple[list[CheckResult], dict[int, list[ServerLocation]]]:
    """Step 0, for locations (SPEC §20): lock the ``ServerLocation`` rows of the batch's servers
    that have some (``located``; one statement, none when no server has any) and keep the
    results still to record: not an agent's result for a location the server no longer has, nor
    one whose lease another agent has taken over. Move each kept agent result's row to its next
    due time: ending its lease, or, for a result kept through an outage (no lease), only
    forward. Answer the kept results and each server's rows, in the order of its locations."""
    ids = sorted({r.server.pk for r in batch} & located)
    rows = (
        ServerLocation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("location")
        .filter(server_id__in=ids)
        .order_by("server_id", "position", "pk")
        if ids
        else []
    )
    places: dict[int, list[ServerLocation]] = defaultdict(list)
    for row in rows:
        places[row.server_id].append(row)
    kept = []
    for result in batch:
        if result.location is None:
            kept.append(result)
            continue
        row = next((r for r in places.get(result.server.pk, ()) if r.location_id == result.location.pk), None)
        if row is None:
            log.info(
                "record_skipped server_id=%s location=%s (not checked there)", result.server.pk, result.location.slug
            )
            continue
        if result.lease_owner and row.lease_owner != result.lease_owner:
            log.warning(
                "claim_lost server_id=%s location=%s due=%s (lease taken over)",
                result.server.pk,
                result.location.slug,
                result.due_at,
            )
            continue
        if result.lease_owner:
            row.lease_owner, row.lease_until = "", None
            row.next_check_at = result.next_due_at or row.next_check_at
        elif result.next_due_at is not None and result.next_due_at > row.next_check_at:
            row.next_check_at = result.next_due_at
        kept.append(result)
    return kept, places


def _location_states(rows: list[ServerLocation]) -> tuple[LocationState, ...]:
    """The states ``evaluate`` reads: the scheduler's own location is always online."""
    return tuple(
        LocationState(
            slug=row.location.slug,
            name=row.location.name,
            status=row.status,
            consecutive_failures=row.consecutive_failures,
            message=row.message,
            online=row.location.is_local or row.location.status == LocationStatus.ONLINE,
        )
        for row in rows
    )


def _update_locations(places: dict[int, list[ServerLocation]]) -> None:
    """Step 5, for locations: write each row's schedule, lease and state (one prepared UPDATE run)."""
    fields = [
        "next_check_at",
        "lease_owner",
        "lease_until",
        "status",
        "consecutive_failures",
        "message",
        "last_check",
        "last_response_time",
    ]
    rows = [row for server_rows in places.values() for row in server_rows]
    if not rows:
        return
    q = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    columns = ", ".join(f"{q(ServerLocation._meta.get_field(name).column)} = %s" for name in fields)
    sql = f"UPDATE {q(ServerLocation._meta.db_table)} SET {columns} WHERE {q('id')} = %s"
    values = []
    for row in rows:
        line = [getattr(row, name) for name in fields]
        values.append((*(adapt(v) if isinstance(v, datetime) else v for v in line), row.pk))
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


def location_status_changed(location: ProbeLocation) -> list[CheckRecord]:
    """Judge again every server checked from ``location``, which went offline or came back
    (SPEC §20): an offline location's state counts toward no quorum."""
    servers = Server.objects.filter(location_states__location=location).distinct()
    now = timezone.now()
    return record([CheckResult(server, LocationsChanged(), now) for server in servers.order_by("pk")])


def _insert_pings(pings: list[PingResult]) -> list[PingResult]:
    """Step 2: insert ``pings`` and give each its id. PostgreSQL: one ``INSERT … SELECT FROM
    unnest(<an array per column>) RETURNING id``, the statement ``bulk_create`` sends, without
    its compiler's work per batch and per value; SQLite: ``bulk_create``."""
    if connection.vendor != "postgresql" or len(pings) < 2:
        return PingResult.objects.bulk_create(pings)
    q = connection.ops.quote_name
    fields = [field for field in PingResult._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(q(field.column) for field in fields)
    # No length or precision in an array's cast (varchar[], not varchar(8)[]), as bulk_create.
    arrays = ", ".join(f"%s::{field.db_type(connection).split('(')[0]}[]" for field in fields)
    sql = f"INSERT INTO {q(PingResult._meta.db_table)} ({columns}) SELECT * FROM unnest({arrays}) RETURNING {q('id')}"
    values = [[field.get_db_prep_save(field.pre_save(ping, True), connection) for ping in pings] for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        ids = [row[0] for row in cursor.fetchall()]
    for ping, pk in zip(pings, ids, strict=True):
        ping.pk = pk
        ping._state.adding, ping._state.db = False, connection.alias
    return pings


def _move_push_deadlines(batch: Sequence[CheckResult]) -> None:
    """Step 2, continued: a server's last push of the batch sets its deadline and ends the run a
    ``/start`` began; one prepared UPDATE run for every such server (executemany), not an ORM
    update each (a batch of 100 pushes spent 170 ms on those)."""
    last_pushes = {r.server.pk: r for r in batch if r.push_deadline_at is not None}
    if not last_pushes:
        return
    table, q = Server._meta.db_table, connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    sql = f"UPDATE {q(table)} SET {q('push_deadline_at')} = %s, {q('push_started_at')} = NULL WHERE {q('id')} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(adapt(r.push_deadline_at), pk) for pk, r in sorted(last_pushes.items())])
    for result in last_pushes.values():
        result.server.push_deadline_at, result.server.push_started_at = result.push_deadline_at, None


def _schedule(
    batch: Sequence[CheckResult], states: dict[int, ServerStatus], places: dict[int, list[ServerLocation]]
) -> None:
    """Step 0, continued: what a pause, resume or rescheduling edit does to the schedule.

    A pause stops checking and awaits no push. A resume and an edit of what or how often it
    checks make the server due at once (a check in flight for it is dropped as a lost claim:
    it checked the old target), spread for the checks after (``Server.burst_spread``); a push
    monitor's deadline counts from then, or for an edit from its last push. Its agents'
    locations are due at once too, their leases dropped.
    """
    for result in batch:
        outcome, server, now = result.outcome, result.server, result.checked_at
        if not isinstance(outcome, Pause | Resume | Reschedule):
            continue
        if isinstance(outcome, Pause | Resume):
            server.is_active = isinstance(outcome, Resume)
        elif not server.is_active:
            continue  # a paused server is rescheduled when it is resumed
        fields: dict[str, object] = {"is_active": server.is_active, "lease_owner": "", "lease_until": None}
        if server.is_active:
            since = states[server.pk].last_check if isinstance(outcome, Reschedule) else None
            fields.update(
                next_check_at=now,
                spread_seconds=server.burst_spread(now),
                updated_at=now,
                push_deadline_at=server.next_push_deadline(since or now),
            )
        else:
            fields["push_deadline_at"] = None
        Server.objects.filter(pk=server.pk).update(**fields)
        for name, value in fields.items():
            setattr(server, name, value)
        for row in places.get(server.pk, ()):  # every agent's location the same way (SPEC §20)
            row.lease_owner, row.lease_until = "", None
            if server.is_active:
                row.next_check_at = now


def _release_held(
    batch: Sequence[CheckResult], changes: list[StatusChange | None], states: dict[int, ServerStatus]
) -> None:
    """Step 4, continued: a failing check of a server still DOWN whose DOWN alerts a dependency held
    back sends them once no dependency is down (``rules.release_held_downs``). No statement unless
    the batch holds such a server (``held_by_dependency`` is read with the lock in step 0)."""
    held = {
        r.server.pk
        for r, change in zip(batch, changes, strict=True)
        if change is None
        and r.server.held_by_dependency
        and isinstance(r.outcome, ProbeOutcome)
        and not r.outcome.ok
        and states[r.server.pk].status == Status.DOWN
    }
    if held:
        rules.release_held_downs(held)


def _update_states(states: list[ServerStatus]) -> None:
    """Step 5: write every field the engine moves (``_update_rows``)."""
    _update_rows(
        ServerStatus,
        [(name, "{new}") for name in STATUS_FIELDS],
        [(state.pk, *(getattr(state, name) for name in STATUS_FIELDS)) for state in states],
    )


def _update_rows(model: type[Server | ServerStatus], assignments: list[tuple[str, str]], rows: list[tuple]) -> None:
    """Update ``model``'s rows by id. ``assignments`` are (field, expression): ``{new}`` in an
    expression is that field's value from the row, ``{old}`` the column's current value; ``rows``
    are (id, *the new values, in the order of the expressions that use ``{new}``).

    PostgreSQL: one statement for the whole batch, ``UPDATE ... FROM unnest(<an array per
    column>)``; one UPDATE per row, even pipelined, cost the database a plan and an executor
    run per row, and at a thousand checks a second the scheduler's recording connection spent
    most of its time waiting on them. SQLite: one prepared UPDATE run per row (executemany).
    Never Django's ``bulk_update``, whose CASE expression per row and field cost more CPU than
    the probes themselves.
    """
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    given = [model._meta.get_field(name) for name, expression in assignments if "{new}" in expression]
    if connection.vendor == "postgresql":
        sets = ", ".join(
            f"{q(model._meta.get_field(name).column)} = "
            + expression.format(
                new=f"v.{q(model._meta.get_field(name).column)}", old=f"{table}.{q(model._meta.get_field(name).column)}"
            )
            for name, expression in assignments
        )
        arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in [model._meta.pk, *given])
        aliases = ", ".join(q(field.column) for field in [model._meta.pk, *given])
        sql = f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v({aliases}) WHERE {table}.{q('id')} = v.{q('id')}"
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])
        return
    sets = ", ".join(
        f"{q(model._meta.get_field(name).column)} = "
        + expression.format(new="%s", old=q(model._meta.get_field(name).column))
        for name, expression in assignments
    )
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {sets} WHERE {q('id')} = %s",
            [(*(adapt(v) if isinstance(v, datetime) else v for v in values), pk) for pk, *values in rows],
        )


def _apply(
    result: CheckResult,
    state: ServerStatus,
    ping: PingResult | None,
    window: MaintenanceWindow | None,
    places: list[ServerLocation] | None,
) -> StatusChange | None:
    """Move ``state`` (and its locations' rows, ``places``) by one result; the unsaved
    StatusChange if the server's status changed."""
    outcome, now = result.outcome, result.checked_at
    slug = settings.PROBE_LOCATION if result.location is None else result.location.slug
    if isinstance(outcome, ProbeOutcome):
        state.last_check = now
        state.last_response_time = outcome.response_time
        if window is None:  # checks in a maintenance window do not count in uptime (SPEC §12)
            state.record_check(failed=not outcome.ok)
        outcome = replace(outcome, location=slug)
        for row in places or ():
            if row.location.slug == slug:
                row.last_check, row.last_response_time = now, outcome.response_time
    server = result.server
    step = evaluate(
        State(state.status, state.consecutive_failures, state.message, _location_states(places or [])),
        outcome,
        Policy(server.retries, server.degraded_threshold_ms, server.quorum),
        now,
        maintenance=None if window is None else window.name,
    )
    for row, moved in zip(places or (), step.locations, strict=False):
        row.status, row.consecutive_failures, row.message = moved.status, moved.consecutive_failures, moved.message
    state.consecutive_failures = step.consecutive_failures
    state.message = step.message
    if not step.changed:
        return None
    change = StatusChange(
        server=server,
        previous_status=state.status,
        status=step.status,
        message=step.message,
        changed_at=now,
        ping=ping,
    )
    state.status = step.status
    state.last_status_change = now
    return change


def _write_changes(batch: Sequence[CheckResult], changes: list[StatusChange | None]) -> None:
    """Insert the changes, move ``Server.status`` to each server's last one, queue alerts in order."""
    StatusChange.objects.bulk_create([c for c in changes if c is not None])
    final: dict[int, str] = {}
    for result, change in zip(batch, changes, strict=True):
        if change is not None:
            final[result.server.pk] = change.status
            result.server.status = change.status
    by_status: dict[str, list[int]] = defaultdict(list)
    for server_id, status in final.items():
        by_status[status].append(server_id)
    for status, server_ids in by_status.items():
        Server.objects.filter(pk__in=server_ids).update(status=status)
    for change in changes:
        if change is not None:
            log.info(
                "status_change server_id=%s from=%s to=%s", change.server_id, change.previous_status, change.status
            )
    # Incidents and alert rows commit with the changes, or not at all (services.alerts.rules).
    rules.on_status_changes([c for c in changes if c is not None])
    # Others that must commit with the changes: status page subscribers hear of maintenance and
    # (when published) outages (services.subscribers.events, added in MonitoringConfig.ready(),
    # since it reads the engine's maintenance windows and the engine may not import it back).
    for listener in CHANGE_LISTENERS:
        listener([c for c in changes if c is not None])
