"""The long-running scheduler: the check engine on an asyncio loop, and APScheduler jobs for
the slower steps, in one process.

* Checks: ``tasks.engine.Engine`` on a thread of its own — per server, at a fixed rate, claimed
  with a lease so several scheduler processes on one PostgreSQL database share the servers.
* Alerts (every NOTIFICATION_SEND_INTERVAL), certificates (every CERTIFICATE_STEP_SECONDS),
  missed push deadlines (PUSH_STEP_SECONDS), maintenance windows starting
  (MAINTENANCE_STEP_SECONDS), probe locations going offline (LOCATION_STEP_SECONDS), escalation
  steps and reminders (``escalation.STEP_SECONDS``),
  rollups and pruning (``tasks.rollups``): APScheduler jobs that
  each do one small step and say whether they found work, so tests call the steps directly.
  ``check_servers`` runs the same steps once per run (``tasks.housekeeping``). Each run
  schedules the next one when it ends, so a long run never overlaps the next (no "maximum
  number of running instances reached").

``start()``/``stop()`` run it inside another process (the web process of the embedded default,
``core.embedded``); ``run()`` is ``start_scheduler``'s dull loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import uvloop
from apscheduler.schedulers.background import BackgroundScheduler
from django.conf import settings
from django.db import close_old_connections

from monitoring.services.alerts import escalation
from monitoring.services.alerts.delivery import send_pending
from monitoring.services.locations.status import went_offline
from monitoring.services.subscribers.sending import send_subscriber_messages
from monitoring.tasks.certificates import certificate_step
from monitoring.tasks.engine import Engine, run_forever
from monitoring.tasks.maintenance import maintenance_step
from monitoring.tasks.push import push_step
from monitoring.tasks.rollups import PRUNE_STEP_SECONDS, ROLLUP_STEP_SECONDS, prune_step, rollup_step

log = logging.getLogger(__name__)

# The step is one cheap query when nothing is due. It runs often because its claim skips
# servers whose rows another claim holds at that instant: those are picked up at the next step.
CERTIFICATE_STEP_SECONDS = 10
# Missed push deadlines and maintenance windows starting must be noticed within 5 s (SPEC §11,
# §12); each step is one indexed query when there is nothing to do.
PUSH_STEP_SECONDS = 1
MAINTENANCE_STEP_SECONDS = 2
# Probe locations whose agents fell silent (SPEC §20): AGENT_STALE_SECONDS is a minute by default.
LOCATION_STEP_SECONDS = 5
SUBSCRIBER_STEP_BUDGET = 10.0


class Scheduler:
    def __init__(self, *, interval: int | None = None, concurrency: int = 10, tick_seconds: float = 0.25) -> None:
        self.interval = interval
        self.concurrency = concurrency
        self.tick_seconds = tick_seconds
        self.stopping = threading.Event()
        self.engine: Engine | None = None
        self._engine_loop: asyncio.AbstractEventLoop | None = None
        self._engine_thread: threading.Thread | None = None
        self._jobs: BackgroundScheduler | None = None

    def send_step(self) -> bool:
        """Send the alerts that are due now; True if any was handled."""
        close_old_connections()
        try:
            handled = send_pending(limit=100)
        finally:
            close_old_connections()
        return bool(handled)

    def push_step(self) -> bool:
        """Record a missed push for each push monitor past its deadline; True if any was."""
        return self._step(push_step)

    def maintenance_step(self) -> bool:
        """Put servers whose maintenance window has started into maintenance; True if any went."""
        return self._step(maintenance_step)

    def escalation_step(self) -> bool:
        """Queue the escalation steps and reminders that are due; True if any incident escalated."""
        return self._step(escalation.escalation_step)

    def _step(self, step: Callable[[], object]) -> bool:
        close_old_connections()
        try:
            return bool(step())
        finally:
            close_old_connections()

    def jobs(self) -> list[tuple[str, Callable[[], bool], float]]:
        """(id, step, seconds between runs) for every APScheduler job; each step says whether it found work."""
        return [
            ("notifications", self.send_step, settings.NOTIFICATION_SEND_INTERVAL),
            # Status page subscribers: a job (so a thread) of their own beside the alerts', in
            # slices of a few seconds so that stopping never waits for a whole 10,000.
            (
                "subscribers",
                partial(self._step, partial(send_subscriber_messages, budget_seconds=SUBSCRIBER_STEP_BUDGET)),
                settings.NOTIFICATION_SEND_INTERVAL,
            ),
            # Certificate checks are blocking handshakes on threads: a few at a time is plenty.
            (
                "certificates",
                partial(certificate_step, concurrency=min(self.concurrency, 10)),
                CERTIFICATE_STEP_SECONDS,
            ),
            ("rollups", partial(self._step, rollup_step), ROLLUP_STEP_SECONDS),
            ("prune", partial(self._step, prune_step), PRUNE_STEP_SECONDS),
            ("push-deadlines", self.push_step, PUSH_STEP_SECONDS),
            ("maintenance", self.maintenance_step, MAINTENANCE_STEP_SECONDS),
            ("locations", partial(self._step, went_offline), LOCATION_STEP_SECONDS),
            # Escalation steps and reminders (SPEC §18): queued here, sent by the notifications job.
            ("escalation", self.escalation_step, escalation.STEP_SECONDS),
        ]

    def build(self) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(timezone=UTC)
        for job_id, step, seconds in self.jobs():
            # A one-off run now; each run adds the next one ``seconds`` after it ends, so runs
            # never overlap. A late run still runs (no misfire grace: a busy start-up must not
            # skip the certificate step for a whole interval).
            scheduler.add_job(
                self._chained(scheduler, job_id, step, seconds),
                "date",
                run_date=datetime.now(UTC),
                id=job_id,
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
            )
        return scheduler

    def _chained(
        self, scheduler: BackgroundScheduler, job_id: str, step: Callable[[], bool], seconds: float
    ) -> Callable[[], None]:
        def run() -> None:
            try:
                step()
            except Exception:
                log.exception("job_failed job=%s", job_id)
            finally:
                if not self.stopping.is_set():
                    scheduler.add_job(
                        run,
                        "date",
                        run_date=datetime.now(UTC) + timedelta(seconds=seconds),
                        id=job_id,
                        replace_existing=True,
                        misfire_grace_time=None,
                        coalesce=True,
                        max_instances=1,
                    )

        return run

    def start(self) -> None:
        """Start the engine thread and the jobs; returns at once."""
        self.engine = Engine(concurrency=self.concurrency, interval=self.interval, tick=self.tick_seconds)
        # uvloop: the engine's loop runs a thousand checks a second at 60,000 servers, and
        # asyncio's own loop spent a third of the engine's CPU on its transports and selector.
        self._engine_loop = uvloop.new_event_loop()
        self._engine_thread = threading.Thread(
            target=run_forever, args=(self.engine, self._engine_loop), name="check-engine", daemon=True
        )
        self._engine_thread.start()
        self._jobs = self.build()
        self._jobs.start()
        log.info("scheduler_started interval=%s concurrency=%s", self.interval or "per-server", self.concurrency)

    def shutdown(self) -> None:
        """Stop claiming, let running checks finish and be recorded, stop the jobs."""
        self.stopping.set()
        log.info("scheduler_stopping waiting for running checks")
        if self.engine is not None and self._engine_loop is not None:
            self._engine_loop.call_soon_threadsafe(self.engine.stop)
        if self._engine_thread is not None:
            self._engine_thread.join()
        if self._jobs is not None:
            self._jobs.shutdown(wait=True)
        log.info("scheduler_stopped")

    def run(self) -> None:
        """Start, then wait in slices of at most a second until asked to stop."""
        self.start()
        try:
            while not self.stopping.wait(1.0):
                if self._engine_thread is not None and not self._engine_thread.is_alive():
                    log.error("scheduler_engine_died")
                    break
        finally:
            self.shutdown()

    def stop(self, *_: object) -> None:
        self.stopping.set()
