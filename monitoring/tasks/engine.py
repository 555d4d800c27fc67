"""The check engine, the one driver of every check (SPEC §9): the scheduler's per-server,
fixed-rate checks (``Engine.run``) and every one-off pass — check-now, the admin action,
``check_servers``, ``POST /api/checks/run/`` (``run_once``), certificate checks for
``check_certificates`` and the scheduler's certificate step (``run_certificate_checks``) — on
one asyncio loop, sharing the probe, its error path (a probe that raises is an ERROR result,
recorded like any other) and the next due time (``Server.next_due``).

The scheduler (``run``):

1. Claim: every ``tick`` (and, while every slot is taken, ``regather`` seconds after one frees),
   claim up to the free slots' worth of servers due within ``horizon`` seconds (``tasks.claims``:
   one statement, with a lease).
2. Start each check at its own due time, as a task of its own: nothing waits for a pass or for
   another server's check, and a hanging target holds one slot for its timeout.
3. As checks finish, their results queue up; every ``flush`` seconds (or at ``batch_max``) they
   are recorded in one transaction (``services.engine.recording.record``), which moves each server on
   to ``due + interval`` and ends its lease.
4. Every third of the lease, renew the leases of the checks claimed at least that long ago and
   not yet recorded, so a long timeout never loses its claim, while a process that dies holds
   nothing longer than the lease.

All database work runs on one thread (``db``): the loop never blocks on it. The scheduler's is
a thread of its own that keeps one connection; a one-off pass's is the calling thread
(``CallerThread``), so it writes on the caller's connection and transaction, and gives that
connection back while the probes wait on the network (a request must not hold one meanwhile).
Outcomes and lateness (start − due) are counted for /metrics by ``record`` itself, in the
database, so every process's checks show on every web process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.db import connection
from django.utils import timezone

from monitoring.choices import PingStatus, Status
from monitoring.models import CertificateCheck, Server
from monitoring.services import aionet
from monitoring.services.engine import certificates
from monitoring.services.engine.checks import NOT_PROBED, NotProbed
from monitoring.services.engine.probes import probe_async
from monitoring.services.engine.recording import CheckRecord, CheckResult, record
from monitoring.services.engine.transitions import ProbeOutcome
from monitoring.tasks import claims

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds the calling thread of a one-off pass keeps its database connection with no work.
IDLE_CONNECTION_SECONDS = 0.25


class CallerThread(Executor):
    """An executor whose work runs on the thread that calls ``serve()`` (a one-off pass's caller).

    The pass's loop runs on a helper thread and submits its database work here; the caller runs
    it on its own connection and transaction. With no work for ``IDLE_CONNECTION_SECONDS`` the
    connection is closed (outside a transaction), so a check-now that waits minutes on a silent
    target holds none meanwhile (SPEC §23); the next record opens one again.
    """

    def __init__(self) -> None:
        self.work: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        self.work.put((future, lambda: fn(*args, **kwargs), ()))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.work.put(None)

    def serve(self) -> None:
        """Run submitted work on this thread until ``shutdown()``; the caller's own database work
        is done, so its connection is given back before the first probe waits."""
        if not connection.in_atomic_block:
            connection.close()
        while True:
            try:
                item = self.work.get(timeout=IDLE_CONNECTION_SECONDS)
            except queue.Empty:
                if not connection.in_atomic_block:
                    connection.close()
                item = self.work.get()
            if item is None:
                return
            future, fn, _ = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 — handed to the awaiting coroutine
                future.set_exception(exc)


@dataclass
class PassSummary:
    """What a one-off pass did: a record per checked server, and the servers it could not record."""

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


class Store(Protocol):
    """Where the engine's checks come from and its results go (each call runs on the engine's
    ``db`` thread): the database (``DatabaseStore``, the scheduler and every one-off pass) or the
    central server's agent API (``tasks.agent.ApiStore``, a probe agent)."""

    def claim(self, now: datetime, *, owner: str, limit: int, horizon: float, lease: float) -> list[Server]: ...

    def record(self, batch: list[CheckResult]) -> list[CheckRecord]: ...

    def renew(self, owner: str, server_ids: list[int], now: datetime, lease: float) -> object: ...

    def release(self, owner: str, server_ids: list[int]) -> object: ...

    def broken(self) -> None:
        """A call failed: drop what may be broken (a connection) for the next call."""

    def close(self) -> None:
        """The engine stopped: let go of what the store holds (on the ``db`` thread)."""


class DatabaseStore:
    """Claims and records in the database (``tasks.claims``, ``services.engine.recording``)."""

    def claim(self, now: datetime, *, owner: str, limit: int, horizon: float, lease: float) -> list[Server]:
        return claims.claim_due(now, owner=owner, limit=limit, horizon=horizon, lease=lease)

    def record(self, batch: list[CheckResult]) -> list[CheckRecord]:
        return record(batch)

    def renew(self, owner: str, server_ids: list[int], now: datetime, lease: float) -> int:
        return claims.renew(owner, server_ids, now, lease)

    def release(self, owner: str, server_ids: list[int]) -> int:
        return claims.release(owner, server_ids)

    def broken(self) -> None:
        if not connection.in_atomic_block:
            connection.close()

    def close(self) -> None:
        connection.close()  # looked up on the calling (database) thread: its own connection


#: Called as each server of a one-off pass is recorded: its record (a CheckRecord, or a
#: CertificateCheck for a certificate pass), or None and why not.
OnDone = Callable[[Server, Any, str], None]
#: A certificate check to run: the server, and the claim row to fill (None: a new row).
CertificateJob = tuple[Server, CertificateCheck | None]


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
        regather: float = 0.025,
        lease: float | None = None,
        owner: str | None = None,
        on_recorded: Callable[[list[CheckResult]], None] | None = None,
        db: Executor | None = None,
        store: Store | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.interval = interval
        self.tick = tick
        self.horizon = horizon
        self.flush = flush
        self.batch_max = batch_max
        #: While every slot is taken, how long a freed slot waits for others before the claim
        #: that fills them: one claim per finished check was the scheduler's largest CPU cost.
        self.regather = regather
        self.lease = float(lease or settings.CHECK_LEASE_SECONDS)
        self.owner = owner or claims.new_owner()
        self.on_recorded = on_recorded
        self.db = db or ThreadPoolExecutor(1, thread_name_prefix="engine-db")
        #: Claims and lease renewals: on PostgreSQL a thread and connection of their own, so a
        #: claim never queues behind a batch being recorded (at a thousand checks a second the
        #: one thread was busy all the time, and checks waited for their claims); SQLite
        #: serialises writers anyway, so there they share ``db``.
        self.claims_db = (
            ThreadPoolExecutor(1, thread_name_prefix="engine-claims")
            if db is None and connection.vendor == "postgresql"
            else self.db
        )
        self.store: Store = store or DatabaseStore()
        #: A one-off pass: results are recorded once (a failure is reported, not retried) and
        #: each outcome goes to ``on_done``.
        self.once = False
        self.on_done: OnDone | None = None
        self.client = aionet.Client()
        #: Claimed and not yet recorded (their leases are renewed): server id → when it was
        #: claimed (``time.monotonic()``; 0 for servers a one-off pass was handed already claimed).
        self.held: dict[int, float] = {}
        #: Tasks of checks claimed whose probe has not finished (each holds a slot).
        self.checks: set[asyncio.Task[None]] = set()
        #: Checks claimed that wait for their due time, by server id (given back on stop).
        self.waiting: dict[int, asyncio.Task[None]] = {}
        self.results: list[CheckResult] = []
        #: Threads for certificate handshakes (ssl blocks), made by a certificate pass.
        self.handshakes: ThreadPoolExecutor | None = None
        self.stopping = asyncio.Event()
        self.slot_freed = asyncio.Event()
        self.results_ready = asyncio.Event()

    async def call_db(self, fn: Callable[..., T], *args: Any, on: Executor | None = None, **kwargs: Any) -> T:
        """Run ``fn`` on the engine's database thread (or ``on``, the claims'); a broken connection
        is dropped for the next call."""
        loop = asyncio.get_running_loop()

        def run() -> T:
            try:
                return fn(*args, **kwargs)
            except Exception:
                self.store.broken()
                raise

        return await loop.run_in_executor(on or self.db, run)

    # --- 1. claiming
    async def claim_loop(self) -> None:
        while not self.stopping.is_set():
            free = self.concurrency - len(self.checks)
            claimed: list[Server] = []
            if free > 0:
                claimed_at = time.monotonic()  # before the claim: its lease runs from then at the latest
                try:
                    claimed = await self.call_db(
                        self.store.claim,
                        timezone.now(),
                        owner=self.owner,
                        limit=min(free, 500),
                        horizon=self.horizon,
                        lease=self.lease,
                        on=self.claims_db,
                    )
                except Exception:
                    log.exception("claim_failed owner=%s", self.owner)
                for server in claimed:
                    self.held[server.pk] = claimed_at
                    task = asyncio.ensure_future(self.check(server))
                    self.waiting[server.pk] = task
                    self.checks.add(task)
                    task.add_done_callback(self.checks.discard)
                if claimed and len(claimed) == min(free, 500):
                    continue  # more may be due: claim again at once
            self.slot_freed.clear()
            if free > 0:
                # Slots were free and every check due within the horizon is claimed: a slot that
                # frees now finds nothing more before the next tick (a claim after each finished
                # check was the scheduler's largest CPU cost). Only when the slots ran out does a
                # freed one claim at once.
                await asyncio.sleep(self.tick)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.slot_freed.wait(), self.tick)
                await asyncio.sleep(self.regather)  # the slots freed meanwhile join the same claim

    # --- 2. one check, at its due time
    async def check(self, server: Server, *, claimed: bool = True) -> None:
        """Probe ``server`` at its due time (a claimed check) or now, and queue its result."""
        due = server.next_check_at if claimed else None
        if due is not None:
            delay = (due - timezone.now()).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
        self.waiting.pop(server.pk, None)
        started = timezone.now()
        outcome = await self.probe(server)
        self.results.append(
            CheckResult(
                server,
                outcome,
                checked_at=started,
                due_at=due,
                started_at=started,
                lease_owner=self.owner if claimed else "",
                next_due_at=server.next_due(due, started, self.interval) if due is not None else None,
            )
        )
        self.slot_freed.set()
        if len(self.results) >= self.batch_max:
            self.results_ready.set()

    async def check_certificate(self, server: Server, claim: CertificateCheck | None) -> None:
        """Handshake with ``server`` on a thread (ssl blocks), then store what was seen on the
        database thread. A probe that raises is an invalid outcome naming the error, stored like
        any other; a claim whose storing failed is completed with the error, so the server waits
        its interval instead of being retried at every step."""
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(self.handshakes, certificates.probe_certificate, server)
        except Exception as exc:
            log.exception("certificate_probe_failed server_id=%s", server.pk)
            outcome = certificates.CertificateOutcome(valid=False, error=f"{exc.__class__.__name__}: {exc}"[:2000])
        try:
            check = await self.call_db(certificates.store_certificate, server, outcome, claim)
        except Exception as exc:
            log.exception("certificate_check_failed server_id=%s", server.pk)
            error = f"{exc.__class__.__name__}: {exc}"
            if claim is not None:
                await self.call_db(_fail_claim, claim.pk, error)
            if self.on_done is not None:
                await self.call_db(self.on_done, server, None, error)
            return
        if self.on_done is not None:
            await self.call_db(self.on_done, server, check, "")

    async def run_certificates(self, jobs: Sequence[CertificateJob]) -> None:
        """Check the certificates of ``jobs``, ``concurrency`` handshakes at a time."""
        self.handshakes = ThreadPoolExecutor(self.concurrency, thread_name_prefix="tls-handshake")
        slots = asyncio.Semaphore(self.concurrency)

        async def one(job: CertificateJob) -> None:
            async with slots:
                await self.check_certificate(*job)

        try:
            await asyncio.gather(*(one(job) for job in jobs))
        finally:
            self.handshakes.shutdown(wait=False)
            await self.client.close()

    async def probe(self, server: Server) -> ProbeOutcome:
        """What a check of ``server`` saw; a probe that raises (a bug, not the network) is an ERROR."""
        try:
            return await probe_async(server, self.client)
        except Exception as exc:
            log.exception("probe_failed server_id=%s", server.pk)
            return ProbeOutcome(PingStatus.ERROR, error_message=f"{exc.__class__.__name__}: {exc}"[:400])

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
            records = await self.call_db(self.store.record, batch)
        except Exception as exc:
            if not self.once:
                log.exception("record_failed checks=%d (retried)", len(batch))
                self.results[:0] = batch
                await asyncio.sleep(1.0)
                return
            log.exception("record_failed checks=%d", len(batch))
            await self._done(batch, [], f"{exc.__class__.__name__}: {exc}")
            return
        for result in batch:
            self.held.pop(result.server.pk, None)
        await self._done(batch, records, "")
        if self.on_recorded is not None:
            self.on_recorded(batch)

    async def _done(self, batch: list[CheckResult], records: list[CheckRecord], error: str) -> None:
        """Hand each result of a one-off pass to ``on_done`` with its record (a server appears once),
        on the database thread: the caller's own, for a pass run from synchronous code."""
        if self.on_done is None:
            return
        by_server = {rec.state.server_id: rec for rec in records}
        for result in batch:
            rec = by_server.get(result.server.pk)
            why = error or ("" if rec else "not recorded: the server was deleted, or another scheduler took it over")
            await self.call_db(self.on_done, result.server, rec, why)

    # --- 4. leases
    def to_renew(self) -> list[int]:
        """The held servers whose leases need renewing: those claimed at least a third of the lease
        ago (most checks are recorded within a second of their claim and need none). Renewing
        every third of the lease, a claim is first renewed within two thirds of it, then always."""
        older = time.monotonic() - self.lease / 3
        return [server_id for server_id, claimed_at in self.held.items() if claimed_at <= older]

    async def renew_loop(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.lease / 3)
            if ids := self.to_renew():
                try:
                    await self.call_db(self.store.renew, self.owner, ids, timezone.now(), self.lease, on=self.claims_db)
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
                    await self.call_db(self.store.release, self.owner, unstarted)
                await self.call_db(self.store.close)
                if self.claims_db is not self.db:
                    await self.call_db(self.store.close, on=self.claims_db)
            finally:
                await self.client.close()
                self.db.shutdown(wait=True)
                self.claims_db.shutdown(wait=True)
            log.info("engine_stopped owner=%s", self.owner)

    def stop(self) -> None:
        self.stopping.set()

    async def run_once(self, servers: Sequence[Server], *, claimed: bool = False) -> None:
        """Check each of ``servers`` once, ``concurrency`` at a time, and record them in batches.

        ``claimed``: the servers were claimed with this engine's ``owner`` (``claims.claim_due``):
        each is checked at its due time, its lease renewed meanwhile, and moved on to its next
        due time as it is recorded. Otherwise each is checked now and its schedule is untouched.
        """
        self.once = True
        slots = asyncio.Semaphore(self.concurrency)
        if claimed:
            self.held.update((s.pk, 0.0) for s in servers)  # claimed by the caller: renewed from the first

        async def one(server: Server) -> None:
            async with slots:
                await self.check(server, claimed=claimed)

        recorder = asyncio.ensure_future(self.record_loop())
        renewer = asyncio.ensure_future(self.renew_loop())
        try:
            await asyncio.gather(*(one(s) for s in servers))
        finally:
            self.stopping.set()
            await recorder
            renewer.cancel()
            await self.client.close()


def _fail_claim(claim_id: int, error: str) -> None:
    CertificateCheck.objects.filter(pk=claim_id).update(in_progress=False, error=error[:2000])


def run_once(
    servers: Sequence[Server],
    *,
    concurrency: int | None = None,
    claimed_by: str = "",
    interval: int | None = None,
    on_done: OnDone | None = None,
) -> PassSummary:
    """Check ``servers`` once from synchronous code: check-now, the admin action, ``check_servers``
    and ``POST /api/checks/run/``. One failure never stops the pass.

    The engine's loop runs on a helper thread; its database work runs here (``CallerThread``).
    ``claimed_by``: the lease owner that claimed them (``claims.claim_due``), whose due checks
    then move on to their next due time; empty, they are checked now, their schedule untouched.
    """
    summary = PassSummary()
    if not servers:
        return summary

    def done(server: Server, rec: CheckRecord | None, error: str) -> None:
        if rec is None:
            summary.errors.append((server, error))
        else:
            summary.records.append(rec)
        if on_done is not None:
            on_done(server, rec, error)

    engine = Engine(
        concurrency=concurrency or settings.CHECK_CONCURRENCY,
        interval=interval,
        owner=claimed_by or None,
        db=CallerThread(),
    )
    engine.on_done = done
    _drive(engine, engine.run_once(servers, claimed=bool(claimed_by)))
    return summary


def run_certificate_checks(
    jobs: Sequence[CertificateJob], *, concurrency: int = 10, on_done: OnDone | None = None
) -> list[CertificateCheck]:
    """Check the certificates of ``jobs`` once from synchronous code (``check_certificates``, the
    scheduler's certificate step); the checks stored, in completion order. One failure never
    stops the rest."""
    stored: list[CertificateCheck] = []

    def done(server: Server, check: CertificateCheck | None, error: str) -> None:
        if check is not None:
            stored.append(check)
        if on_done is not None:
            on_done(server, check, error)

    if not jobs:
        return stored
    engine = Engine(concurrency=concurrency, db=CallerThread())
    engine.on_done = done
    _drive(engine, engine.run_certificates(jobs))
    return stored


def _drive(engine: Engine, work: Awaitable[None]) -> None:
    """Run ``work`` on a loop on a helper thread while this thread does its database work."""
    assert isinstance(engine.db, CallerThread)
    db = engine.db

    def probing() -> None:
        try:
            asyncio.run(work)  # type: ignore[arg-type]
        finally:
            db.shutdown()

    thread = threading.Thread(target=probing, name="check-pass", daemon=True)
    thread.start()
    db.serve()
    thread.join()


def run_check(server: Server) -> CheckRecord | None:
    """Check one server now (the API's check action): a pass of one. None when it was deleted
    while its check ran. A push monitor has nothing to check (``NotProbed``)."""
    if server.is_push:
        raise NotProbed(NOT_PROBED)
    summary = run_once([server], concurrency=1)
    if summary.records:
        rec = summary.records[0]
        log.info(
            "check server_id=%s status=%s ping=%s response_ms=%s code=%s error=%r",
            server.pk,
            rec.state.status,
            rec.ping.status if rec.ping else None,
            rec.ping.response_time if rec.ping else None,
            rec.ping.status_code if rec.ping else None,
            rec.ping.error_message if rec.ping else None,
        )
        return rec
    return None


def run_forever(engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
    """Run ``engine`` on ``loop`` in this thread until it stops (the scheduler's engine thread)."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(engine.run())
    finally:
        loop.close()
