"""Claiming due servers and running a pass of checks over them.

Used by ``check_servers`` (one pass), ``start_scheduler`` (a pass every tick) and
``POST /api/checks/run/``; every check goes through ``services.checks.run_check``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from monitoring.choices import Protocol, Status
from monitoring.models import Server
from monitoring.services.checks import run_check
from monitoring.services.recording import CheckRecord
from monitoring.tasks.pool import run_concurrently

log = logging.getLogger(__name__)


def claim_due(now: datetime, *, limit: int = 500, interval: int | None = None) -> list[Server]:
    """Claim up to ``limit`` due servers for this process, so no other process checks them.

    1. In a short transaction, read due servers with ``SELECT … FOR UPDATE SKIP LOCKED``
       (PostgreSQL; other processes skip rows we hold, and SQLite's IMMEDIATE
       transactions serialise the whole block instead).
    2. Move each one's ``next_check_at`` forward with an UPDATE conditional on the value
       we read; a row count of 0 means another process got there first, and we drop it.
    3. Probe later, outside the transaction.
    """
    claimed: list[Server] = []
    with transaction.atomic():
        due = list(
            Server.objects.due(now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("next_check_at", "id")[:limit]
        )
        for server in due:
            seconds = interval or server.check_interval
            next_at = now + timedelta(seconds=seconds)
            won = Server.objects.filter(pk=server.pk, next_check_at=server.next_check_at).update(next_check_at=next_at)
            if won:
                server.next_check_at = next_at
                claimed.append(server)
            else:
                log.debug("claim_lost server_id=%s", server.pk)
    return claimed


def claim_servers(server_ids: Iterable[int], now: datetime, *, interval: int | None = None) -> list[Server]:
    """Take the given servers whether due or not (``--server ID``), pushing their next check on.

    Push servers are never probed, so they are left out."""
    servers = list(Server.objects.filter(pk__in=list(server_ids)).exclude(protocol=Protocol.PUSH).order_by("id"))
    for server in servers:
        server.next_check_at = now + timedelta(seconds=interval or server.check_interval)
        Server.objects.filter(pk=server.pk).update(next_check_at=server.next_check_at)
    return servers


@dataclass
class PassSummary:
    records: list[CheckRecord] = field(default_factory=list)
    errors: list[tuple[Server, str]] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return len(self.records)

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r.state.status == status)

    def as_dict(self) -> dict[str, int]:
        return {
            "checked": self.checked,
            "up": self.count(Status.UP),
            "down": self.count(Status.DOWN),
            "degraded": self.count(Status.DEGRADED),
        }


def run_pass(
    servers: list[Server],
    *,
    concurrency: int = 10,
    on_done: Callable[[Server, CheckRecord | None, str], None] | None = None,
) -> PassSummary:
    """Check ``servers`` with up to ``concurrency`` worker threads; one failure never stops the pass."""
    summary = PassSummary()
    for server, record, error in run_concurrently(servers, run_check, concurrency=concurrency):
        if record is not None:
            summary.records.append(record)
        else:
            summary.errors.append((server, error))
            log.error("check_failed server_id=%s error=%r", server.pk, error)
        if on_done is not None:
            on_done(server, record, error)
    return summary


def run_due(*, now: datetime | None = None, concurrency: int = 10, interval: int | None = None) -> PassSummary:
    """One scheduler step: claim what is due and check it."""
    servers = claim_due(now or timezone.now(), interval=interval)
    return run_pass(servers, concurrency=concurrency)
