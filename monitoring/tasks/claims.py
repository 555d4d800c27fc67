"""Claiming due checks with a lease, so several scheduler processes share the servers (SPEC §9).

A claim is one statement: it sets ``lease_owner`` and ``lease_until`` on up to ``limit``
servers that are due (``next_check_at`` has come, or comes within ``horizon`` seconds) and not
held by a live lease, and returns their rows. Push servers are never claimed: they are never
probed, and their silence is the scheduler's push step (``Server.objects.push_overdue``).

The scheduler claims the checks of its own location (``PROBE_LOCATION``) on the Server rows:
every server with no ``ServerLocation`` rows, and those whose locations include it. A probe
agent claims its location's checks on their ``ServerLocation`` rows (``claim_due_at``), the
same way, with the same lease rules (SPEC §20).

``next_check_at`` is *not* moved by the claim: the due time stays on the row until the result
is recorded (``services.engine.recording.record`` moves it on, conditional on still holding the
lease), so a process killed mid-check holds its servers only until the lease ends, and
whoever claims them next runs that same due check.

On PostgreSQL the inner SELECT locks with ``FOR UPDATE SKIP LOCKED``: concurrent claimers skip
each other's rows, and a row another claimer changed is re-checked against the WHERE clause
before it is taken. SQLite's IMMEDIATE transactions serialise claimers instead.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import connection, transaction

from monitoring.choices import Protocol
from monitoring.models import ProbeLocation, Server, ServerLocation

M = TypeVar("M", Server, ServerLocation)


def new_owner() -> str:
    """A lease owner name unique to one scheduler process (or pass)."""
    return uuid.uuid4().hex


def claim_due(
    now: datetime,
    *,
    owner: str,
    limit: int = 500,
    horizon: float = 0.0,
    lease: float | None = None,
) -> list[Server]:
    """Claim up to ``limit`` servers due by ``now + horizon``, earliest first; each comes back with
    ``next_check_at`` = the due time it was claimed for."""
    if limit <= 0:
        return []
    lease_until = now + timedelta(seconds=lease or settings.CHECK_LEASE_SECONDS)
    table, q = Server._meta.db_table, connection.ops.quote_name
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    adapt = connection.ops.adapt_datetimefield_value
    places, locations = q(ServerLocation._meta.db_table), q(ProbeLocation._meta.db_table)
    here = (  # checked from the scheduler's own location: no locations set, or it is one of them
        f"(NOT EXISTS (SELECT 1 FROM {places} WHERE {places}.{q('server_id')} = {q(table)}.{q('id')}) "
        f"OR EXISTS (SELECT 1 FROM {places} INNER JOIN {locations} "
        f"ON {locations}.{q('id')} = {places}.{q('location_id')} "
        f"WHERE {places}.{q('server_id')} = {q(table)}.{q('id')} AND {locations}.{q('slug')} = %s))"
    )
    sql = (
        f"UPDATE {q(table)} SET {q('lease_owner')} = %s, {q('lease_until')} = %s "
        f"WHERE {q('id')} IN (SELECT {q('id')} FROM {q(table)} "
        f"WHERE {q('is_active')} AND {q('protocol')} <> %s AND {q('next_check_at')} <= %s "
        f"AND ({q('lease_until')} IS NULL OR {q('lease_until')} <= %s) AND {here} "
        f"ORDER BY {q('next_check_at')}, {q('id')} LIMIT %s{lock}) "
        f"RETURNING {_columns(Server)}"
    )
    params = [
        owner,
        adapt(lease_until),
        Protocol.PUSH.value,
        adapt(now + timedelta(seconds=horizon)),
        adapt(now),
        settings.PROBE_LOCATION,
        limit,
    ]
    with transaction.atomic():
        servers = _leased(Server, sql, params)
    return sorted(servers, key=lambda server: (server.next_check_at, server.pk))


def _columns(model: type[Server | ServerLocation]) -> str:
    """What a claim's UPDATE returns: every column of ``model``, so the leased rows are built
    from it (``Model.from_db``) without a second query."""
    q = connection.ops.quote_name
    return ", ".join(q(field.column) for field in model._meta.concrete_fields)


def _leased(model: type[M], sql: str, params: list[object]) -> list[M]:
    """Run a claim's one UPDATE … RETURNING (``_columns``); the rows it leased, as they are now
    (leased), built by the ORM's raw query (its field converters, ``Model.from_db``)."""
    return list(model.objects.raw(sql, params))


def renew(owner: str, server_ids: list[int], now: datetime, lease: float | None = None) -> int:
    """Extend the leases ``owner`` still holds on ``server_ids`` (checks in flight); how many.

    Rows locked by a ``record`` or a delete under way are skipped, not waited for: never a
    deadlock with them, and a lease skipped once is renewed at the next third of it."""
    if not server_ids:
        return 0
    until = now + timedelta(seconds=lease or settings.CHECK_LEASE_SECONDS)
    with transaction.atomic():
        held = Server.objects.select_for_update(skip_locked=True).filter(pk__in=server_ids, lease_owner=owner)
        ids = list(held.order_by("pk").values_list("pk", flat=True))
        return Server.objects.filter(pk__in=ids).update(lease_until=until)


def release(owner: str, server_ids: list[int]) -> int:
    """Give back unstarted claims (a scheduler stopping): due again at once for anyone."""
    if not server_ids:
        return 0
    return Server.objects.filter(pk__in=server_ids, lease_owner=owner).update(lease_owner="", lease_until=None)


def claim_due_at(
    location: ProbeLocation,
    now: datetime,
    *,
    owner: str,
    limit: int = 500,
    horizon: float = 0.0,
    lease: float | None = None,
) -> list[tuple[Server, ServerLocation]]:
    """``claim_due`` for a probe agent's ``location``: up to ``limit`` of its active, probed
    servers due there by ``now + horizon``, earliest first, leased on their ``ServerLocation``
    rows; each row comes back with the due time it was claimed for."""
    if limit <= 0:
        return []
    lease_until = now + timedelta(seconds=lease or settings.CHECK_LEASE_SECONDS)
    q = connection.ops.quote_name
    places, servers = q(ServerLocation._meta.db_table), q(Server._meta.db_table)
    lock = f" FOR UPDATE OF {places} SKIP LOCKED" if connection.vendor == "postgresql" else ""
    adapt = connection.ops.adapt_datetimefield_value
    sql = (
        f"UPDATE {places} SET {q('lease_owner')} = %s, {q('lease_until')} = %s "
        f"WHERE {q('id')} IN (SELECT {places}.{q('id')} FROM {places} INNER JOIN {servers} "
        f"ON {servers}.{q('id')} = {places}.{q('server_id')} "
        f"WHERE {places}.{q('location_id')} = %s AND {servers}.{q('is_active')} AND {servers}.{q('protocol')} <> %s "
        f"AND {places}.{q('next_check_at')} <= %s "
        f"AND ({places}.{q('lease_until')} IS NULL OR {places}.{q('lease_until')} <= %s) "
        f"ORDER BY {places}.{q('next_check_at')}, {places}.{q('id')} LIMIT %s{lock}) "
        f"RETURNING {_columns(ServerLocation)}"
    )
    params = [
        owner,
        adapt(lease_until),
        location.pk,
        Protocol.PUSH.value,
        adapt(now + timedelta(seconds=horizon)),
        adapt(now),
        limit,
    ]
    with transaction.atomic():
        ids = [row.pk for row in _leased(ServerLocation, sql, params)]
        rows = ServerLocation.objects.filter(pk__in=ids).select_related("server", "location")
        return [(row.server, row) for row in rows.order_by("next_check_at", "pk")] if ids else []


def renew_at(
    location: ProbeLocation, owner: str, server_ids: list[int], now: datetime, lease: float | None = None
) -> int:
    """``renew`` for an agent's checks in flight at ``location``; how many leases it still held."""
    if not server_ids:
        return 0
    until = now + timedelta(seconds=lease or settings.CHECK_LEASE_SECONDS)
    with transaction.atomic():
        held = ServerLocation.objects.select_for_update(skip_locked=True).filter(
            location=location, server_id__in=server_ids, lease_owner=owner
        )
        ids = list(held.order_by("pk").values_list("pk", flat=True))
        return ServerLocation.objects.filter(pk__in=ids).update(lease_until=until)


def release_at(location: ProbeLocation, owner: str, server_ids: list[int]) -> int:
    """``release`` for an agent stopping: its unstarted claims are due again at once for anyone."""
    if not server_ids:
        return 0
    return ServerLocation.objects.filter(location=location, server_id__in=server_ids, lease_owner=owner).update(
        lease_owner="", lease_until=None
    )
