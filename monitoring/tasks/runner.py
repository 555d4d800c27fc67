"""Running a pass of checks over a list of servers: ``check_servers``, ``POST /api/checks/run/``,
the scheduler's ``check_step`` and the API's check-now all come through ``run_pass``.

The probes run concurrently on an asyncio loop on a helper thread (``services.probes``); the
results come back to the calling thread, which records them in batches with
``services.recording.record`` — on its own database connection and transaction, so a pass
inside a test's transaction (or the API's request) sees and writes what the caller does.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from monitoring.choices import Protocol, Status
from monitoring.models import Server
from monitoring.services import aionet
from monitoring.services.probes import probe_async
from monitoring.services.recording import CheckRecord, CheckResult, record
from monitoring.services.transitions import ProbeOutcome
from monitoring.tasks import claims

log = logging.getLogger(__name__)

#: Results recorded per transaction at most.
BATCH = 200

#: A finished probe: the server, when it started, and what it saw (or why the probe itself broke).
Probed = tuple[Server, datetime, ProbeOutcome | str]


def claim_due(now: datetime, *, owner: str, limit: int = 500) -> list[Server]:
    """Claim the servers due at ``now`` for a one-off pass (``check_servers``); see ``tasks.claims``."""
    return claims.claim_due(now, owner=owner, limit=limit)


def claim_servers(server_ids: Iterable[int]) -> list[Server]:
    """The given servers whether due or not (``--server ID``, ``--all``, the API): checked now,
    their schedule untouched. Push servers are never probed, so they are left out."""
    return list(Server.objects.filter(pk__in=list(server_ids)).exclude(protocol=Protocol.PUSH).order_by("id"))


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


async def probe_all(servers: list[Server], concurrency: int, done: Callable[[Probed], None]) -> None:
    """Probe ``servers``, ``concurrency`` at a time on this loop; ``done`` gets each as it finishes."""
    client = aionet.Client()
    slots = asyncio.Semaphore(concurrency)

    async def one(server: Server) -> None:
        async with slots:
            started = timezone.now()
            outcome: ProbeOutcome | str
            try:
                outcome = await probe_async(server, client)
            except Exception as exc:
                log.exception("probe_failed server_id=%s", server.pk)
                outcome = f"{exc.__class__.__name__}: {exc}"
            done((server, started, outcome))

    try:
        await asyncio.gather(*(one(s) for s in servers))
    finally:
        await client.close()


def run_pass(
    servers: list[Server],
    *,
    concurrency: int = 10,
    on_done: Callable[[Server, CheckRecord | None, str], None] | None = None,
    lease_owner: str = "",
    interval: int | None = None,
) -> PassSummary:
    """Check ``servers`` with up to ``concurrency`` in flight; one failure never stops the pass.

    Servers claimed with ``lease_owner`` (``claim_due``) move on to their next due time as their
    results are recorded.
    """
    summary = PassSummary()
    if not servers:
        return summary
    finished: queue.SimpleQueue[Probed | None] = queue.SimpleQueue()

    def probing() -> None:
        try:
            asyncio.run(probe_all(servers, concurrency, finished.put))
        finally:
            finished.put(None)

    thread = threading.Thread(target=probing, name="probe-pass", daemon=True)
    thread.start()
    over = False
    while not over:
        item = finished.get()
        batch: list[Probed] = []
        while item is not None:
            batch.append(item)
            if len(batch) >= BATCH:
                break
            try:
                item = finished.get_nowait()
            except queue.Empty:
                break
        else:
            over = True
        if batch:
            _record(batch, summary, on_done, lease_owner, interval)
    thread.join()
    return summary


def _record(
    batch: list[Probed],
    summary: PassSummary,
    on_done: Callable[[Server, CheckRecord | None, str], None] | None,
    lease_owner: str,
    interval: int | None,
) -> None:
    now = timezone.now()
    for server, _, outcome in batch:
        if isinstance(outcome, str):
            log.error("check_failed server_id=%s error=%r", server.pk, outcome)
            summary.errors.append((server, outcome))
            if on_done is not None:
                on_done(server, None, outcome)
    batch = [item for item in batch if not isinstance(item[2], str)]
    if not batch:
        return
    results = [
        CheckResult(
            server,
            outcome,
            checked_at=started,
            due_at=server.next_check_at if lease_owner else None,
            started_at=started,
            lease_owner=lease_owner,
            next_due_at=claims.next_due(server.next_check_at, interval or server.check_interval, now)
            if lease_owner
            else None,
        )
        for server, started, outcome in batch
        if isinstance(outcome, ProbeOutcome)
    ]
    try:
        records = record(results)
    except Exception as exc:
        error = f"{exc.__class__.__name__}: {exc}"
        log.exception("record_failed servers=%s", ",".join(str(s.pk) for s, _, _ in batch))
        for server, _, _ in batch:
            summary.errors.append((server, error))
            if on_done is not None:
                on_done(server, None, error)
        return
    by_server = {}
    for rec in records:
        by_server.setdefault(rec.ping.server_id, []).append(rec)
    for server, _, _ in batch:
        recs = by_server.get(server.pk)
        if recs:
            rec = recs.pop(0)
            summary.records.append(rec)
            if on_done is not None:
                on_done(server, rec, "")
        else:
            error = "claim lost: another scheduler took this check over"
            summary.errors.append((server, error))
            if on_done is not None:
                on_done(server, None, error)


def run_due(*, now: datetime | None = None, concurrency: int = 10, interval: int | None = None) -> PassSummary:
    """One synchronous step: claim what is due and check it (tests, the scheduler's ``check_step``)."""
    owner = claims.new_owner()
    servers = claim_due(now or timezone.now(), owner=owner)
    return run_pass(servers, concurrency=concurrency, lease_owner=owner, interval=interval)
