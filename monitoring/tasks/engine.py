"""The scheduler's check engine: per-server, fixed-rate checks on one asyncio loop (SPEC §9).

1. Claim: every ``tick`` (and whenever a slot frees), claim up to the free slots' worth of
   servers due within ``horizon`` seconds (``tasks.claims``: one statement, with a lease).
2. Start each check at its own due time, as a task of its own: nothing waits for a pass or for
   another server's check, and a hanging target holds one slot for its timeout.
3. As checks finish, their results queue up; every ``flush`` seconds (or at ``batch_max``) they
   are recorded in one transaction (``services.recording.record``), which moves each server on
   to ``due + interval`` and ends its lease.
4. Every third of the lease, renew the leases of the checks claimed and not yet recorded, so a
   long timeout never loses its claim, while a process that dies holds nothing longer than the
   lease.

All database work runs on one thread of its own (``db``): the loop never blocks on it, and the
process keeps one connection. ``STATS`` counts outcomes and the lateness (start − due) of every
check this process ran, for metrics.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection
from django.utils import timezone

from monitoring.choices import PingStatus
from monitoring.models import Server
from monitoring.services import aionet
from monitoring.services.probes import probe_async
from monitoring.services.recording import CheckResult, record
from monitoring.services.transitions import ProbeOutcome
from monitoring.tasks import claims

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Histogram bounds (seconds) of ``pulseguard_check_lateness_seconds``.
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class CheckStats:
    """What this process's engine has done: checks by outcome, and a lateness histogram."""

    outcomes: Counter[str] = field(default_factory=Counter)
    #: Non-cumulative counts per LATENESS_BUCKETS bound, plus one for +Inf.
    lateness_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENESS_BUCKETS) + 1))
    lateness_sum: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, result: CheckResult) -> None:
        with self.lock:
            self.outcomes[result.outcome.status] += 1
            late = result.lateness
            if late is not None:
                self.lateness_counts[bisect.bisect_left(LATENESS_BUCKETS, late)] += 1
                self.lateness_sum += late


STATS = CheckStats()


class Engine:
    def __init__(
        self,
        *,
        concurrency: int,
        interval: int | None = None,
        tick: float = 0.25,
        horizon: float = 1.0,
        flush: float = 0.1,
        batch_max: int = 500,
        lease: float | None = None,
        owner: str | None = None,
        on_recorded: Callable[[list[CheckResult]], None] | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.interval = interval
        self.tick = tick
        self.horizon = horizon
        self.flush = flush
        self.batch_max = batch_max
        self.lease = float(lease or settings.CHECK_LEASE_SECONDS)
        self.owner = owner or claims.new_owner()
        self.on_recorded = on_recorded
        self.db = ThreadPoolExecutor(1, thread_name_prefix="engine-db")
        self.client = aionet.Client()
        #: Claimed and not yet recorded (their leases are renewed), by server id.
        self.held: dict[int, Server] = {}
        #: Tasks of checks claimed whose probe has not finished (each holds a slot).
        self.checks: set[asyncio.Task[None]] = set()
        #: Checks claimed that wait for their due time, by server id (given back on stop).
        self.waiting: dict[int, asyncio.Task[None]] = {}
        self.results: list[CheckResult] = []
        self.stopping = asyncio.Event()
        self.slot_freed = asyncio.Event()
        self.results_ready = asyncio.Event()

    async def call_db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the engine's database thread; a broken connection is dropped for the next call."""
        loop = asyncio.get_running_loop()

        def run() -> T:
            try:
                return fn(*args, **kwargs)
            except Exception:
                connection.close()
                raise

        return await loop.run_in_executor(self.db, run)

    # --- 1. claiming
    async def claim_loop(self) -> None:
        while not self.stopping.is_set():
            free = self.concurrency - len(self.checks)
            claimed: list[Server] = []
            if free > 0:
                try:
                    claimed = await self.call_db(
                        claims.claim_due,
                        timezone.now(),
                        owner=self.owner,
                        limit=min(free, 500),
                        horizon=self.horizon,
                        lease=self.lease,
                    )
                except Exception:
                    log.exception("claim_failed owner=%s", self.owner)
                for server in claimed:
                    self.held[server.pk] = server
                    task = asyncio.ensure_future(self.check(server))
                    self.waiting[server.pk] = task
                    self.checks.add(task)
                    task.add_done_callback(self.checks.discard)
                if claimed and len(claimed) == min(free, 500):
                    continue  # more may be due: claim again at once
            self.slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.slot_freed.wait(), self.tick)

    # --- 2. one check, at its due time
    async def check(self, server: Server) -> None:
        due = server.next_check_at
        delay = (due - timezone.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        self.waiting.pop(server.pk, None)
        started = timezone.now()
        try:
            outcome = await probe_async(server, self.client)
        except Exception as exc:
            log.exception("probe_failed server_id=%s", server.pk)
            outcome = ProbeOutcome(PingStatus.ERROR, error_message=f"{exc.__class__.__name__}: {exc}"[:400])
        interval = self.interval or server.check_interval
        self.results.append(
            CheckResult(
                server,
                outcome,
                checked_at=started,
                due_at=due,
                started_at=started,
                lease_owner=self.owner,
                next_due_at=claims.next_due(due, interval, timezone.now()),
            )
        )
        self.slot_freed.set()
        if len(self.results) >= self.batch_max:
            self.results_ready.set()

    # --- 3. recording in batches
    async def record_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.results_ready.wait(), self.flush)
            self.results_ready.clear()
            await self.record_pending()
            if self.stopping.is_set() and not self.checks and not self.results:
                return

    async def record_pending(self) -> None:
        if not self.results:
            return
        batch, self.results = self.results[: self.batch_max], self.results[self.batch_max :]
        try:
            await self.call_db(record, batch)
        except Exception:
            log.exception("record_failed checks=%d (retried)", len(batch))
            self.results[:0] = batch
            await asyncio.sleep(1.0)
            return
        for result in batch:
            self.held.pop(result.server.pk, None)
            STATS.observe(result)
        if self.on_recorded is not None:
            self.on_recorded(batch)

    # --- 4. leases
    async def renew_loop(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.lease / 3)
            if self.held:
                try:
                    await self.call_db(claims.renew, self.owner, list(self.held), timezone.now(), self.lease)
                except Exception:
                    log.exception("lease_renew_failed owner=%s", self.owner)

    async def run(self) -> None:
        """Run until ``stop()``: then claim no more, give back the claims not started, let the
        running checks finish (each within its timeout), and record them."""
        log.info("engine_started owner=%s concurrency=%s lease=%ss", self.owner, self.concurrency, self.lease)
        claimer = asyncio.ensure_future(self.claim_loop())
        recorder = asyncio.ensure_future(self.record_loop())
        renewer = asyncio.ensure_future(self.renew_loop())
        try:
            await self.stopping.wait()
        finally:
            self.stopping.set()
            claimer.cancel()
            unstarted = list(self.waiting)
            for task in self.waiting.values():
                task.cancel()
            for server_id in unstarted:
                self.held.pop(server_id, None)
            if self.checks:
                await asyncio.wait(list(self.checks))
            await recorder
            renewer.cancel()
            try:
                if unstarted:
                    await self.call_db(claims.release, self.owner, unstarted)
                await self.call_db(_close_connection)
            finally:
                await self.client.close()
                self.db.shutdown(wait=True)
            log.info("engine_stopped owner=%s", self.owner)

    def stop(self) -> None:
        self.stopping.set()


def _close_connection() -> None:
    connection.close()  # looked up on the calling (database) thread: its own connection


def run_forever(engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
    """Run ``engine`` on ``loop`` in this thread until it stops (the scheduler's engine thread)."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(engine.run())
    finally:
        loop.close()
