"""Claiming due checks with a lease, so several scheduler processes share the servers (SPEC §9).

A claim is one statement: it sets ``lease_owner`` and ``lease_until`` on up to ``limit``
servers that are due (``next_check_at`` has come, or comes within ``horizon`` seconds) and not
held by a live lease, and returns their ids. Push servers are never claimed: they are never
probed, and their silence is the scheduler's push step (``Server.objects.push_overdue``).

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

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from monitoring.choices import Protocol
from monitoring.models import ProbeLocation, Server, ServerLocation


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
    sql = (
        f"UPDATE {q(table)} SET {q('lease_owner')} = %s, {q('lease_until')} = %s "
        f"WHERE {q('id')} IN (SELECT {q('id')} FROM {q(table)} "
        f"WHERE {q('is_active')} AND {q('protocol')} <> %s AND {q('next_check_at')} <= %s "
        f"AND ({q('lease_until')} IS NULL OR {q('lease_until')} <= %s) "
        f"ORDER BY {q('next_check_at')}, {q('id')} LIMIT %s{lock}) "
        f"RETURNING {q('id')}"
    )
    params = [
        owner,
        adapt(lease_until),
        Protocol.PUSH.value,
        adapt(now + timedelta(seconds=horizon)),
        adapt(now),
        limit,
    ]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return []
        return list(Server.objects.filter(pk__in=ids).order_by("next_check_at", "id"))


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
    """Claim for an agent of ``location`` up to ``limit`` of its checks due by ``now + horizon``
    (``ServerLocation`` rows of active, probed servers whose lease is free), earliest first, with
    a lease on each row; each comes back with ``next_check_at`` = the due time it was claimed for."""
    if limit <= 0:
        return []
    lease_until = now + timedelta(seconds=lease or settings.CHECK_LEASE_SECONDS)
    with transaction.atomic():
        due = (
            ServerLocation.objects.filter(
                location=location,
                server__is_active=True,
                next_check_at__lte=now + timedelta(seconds=horizon),
            )
            .exclude(server__protocol=Protocol.PUSH)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .order_by("next_check_at", "pk")
        )
        if connection.vendor == "postgresql":
            due = due.select_for_update(skip_locked=True, of=("self",))
        ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        ServerLocation.objects.filter(pk__in=ids).update(lease_owner=owner, lease_until=lease_until)
        rows = ServerLocation.objects.select_related("server").filter(pk__in=ids).order_by("next_check_at", "pk")
        return [(row.server, row) for row in rows]


def renew_at(
    location: ProbeLocation, owner: str, server_ids: list[int], now: datetime, lease: float | None = None
) -> int:
    """Extend the leases ``owner`` still holds at ``location`` on ``server_ids``; how many."""
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
    """Give back an agent's unstarted claims at ``location``: due again at once for its other agents."""
    if not server_ids:
        return 0
    return ServerLocation.objects.filter(location=location, server_id__in=server_ids, lease_owner=owner).update(
        lease_owner="", lease_until=None
    )
