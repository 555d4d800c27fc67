"""The long-running scheduler: APScheduler jobs that each do one small step, and a dull loop.

Each step returns whether it found work, so tests call the steps directly. Which server
is due is decided by ``Server.next_check_at`` (each server's own interval, or
``--interval`` for all), and claiming in ``tasks.runner`` makes several scheduler
processes on one PostgreSQL database share the work without running a check twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from apscheduler.schedulers.background import BackgroundScheduler
from django.conf import settings
from django.db import close_old_connections

from monitoring.services.delivery import send_pending
from monitoring.tasks.certificates import certificate_step
from monitoring.tasks.maintenance import maintenance_step
from monitoring.tasks.push import push_step
from monitoring.tasks.runner import run_due

log = logging.getLogger(__name__)

# The step is one cheap query when nothing is due. It runs often because its claim skips
# servers whose rows another claim (a check pass) holds at that instant: those are picked up
# at the next step rather than a minute later.
CERTIFICATE_STEP_SECONDS = 10
# Missed push deadlines and maintenance windows starting must be noticed within 5 s (SPEC §11,
# §12); each step is one indexed query when there is nothing to do.
PUSH_STEP_SECONDS = 1
MAINTENANCE_STEP_SECONDS = 2


class Scheduler:
    def __init__(self, *, interval: int | None = None, concurrency: int = 10, tick_seconds: float = 1.0) -> None:
        self.interval = interval
        self.concurrency = concurrency
        self.tick_seconds = tick_seconds
        self.stopping = threading.Event()

    def check_step(self) -> bool:
        """Claim and check what is due now; True if anything was checked."""
        close_old_connections()
        try:
            summary = run_due(concurrency=self.concurrency, interval=self.interval)
        finally:
            close_old_connections()
        if summary.checked or summary.errors:
            log.info(
                "scheduler_pass %s errors=%d",
                " ".join(f"{k}={v}" for k, v in summary.as_dict().items()),
                len(summary.errors),
            )
        return bool(summary.checked)

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

    def _step(self, step: Callable[[], list[object]]) -> bool:
        close_old_connections()
        try:
            return bool(step())
        finally:
            close_old_connections()

    def jobs(self) -> list[tuple[str, Callable[[], bool], float]]:
        """(id, step, seconds between runs) for every job; each step says whether it found work."""
        return [
            ("checks", self.check_step, self.tick_seconds),
            ("notifications", self.send_step, settings.NOTIFICATION_SEND_INTERVAL),
            ("certificates", partial(certificate_step, concurrency=self.concurrency), CERTIFICATE_STEP_SECONDS),
            ("push-deadlines", self.push_step, PUSH_STEP_SECONDS),
            ("maintenance", self.maintenance_step, MAINTENANCE_STEP_SECONDS),
        ]

    def build(self) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(timezone=UTC)
        for job_id, step, seconds in self.jobs():
            # One run of a job at a time, missed runs coalesced, the first run at start-up. A run
            # that starts late (a busy machine, a long previous run) still runs: APScheduler's
            # default 1 s misfire grace would skip it, and a minute-long job would wait a minute.
            scheduler.add_job(
                step,
                "interval",
                seconds=seconds,
                id=job_id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                next_run_time=datetime.now(UTC),
            )
        return scheduler

    def run(self) -> None:
        """Start the jobs and wait, in slices of at most a second, until asked to stop."""
        scheduler = self.build()
        scheduler.start()
        log.info("scheduler_started interval=%s concurrency=%s", self.interval or "per-server", self.concurrency)
        try:
            while not self.stopping.wait(1.0):
                pass
        finally:
            log.info("scheduler_stopping waiting for running checks")
            scheduler.shutdown(wait=True)
            log.info("scheduler_stopped")

    def stop(self, *_: object) -> None:
        self.stopping.set()
