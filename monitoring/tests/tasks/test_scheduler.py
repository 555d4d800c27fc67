"""The scheduler: its jobs, and the command that checks on its own and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings

from conftest import subprocess_env
from monitoring.models import PingResult, Server
from monitoring.tasks.scheduler import Scheduler
from monitoring.tests.factories import make_server

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_the_scheduler_registers_its_jobs():
    # Checks run on the engine (tasks.engine), not as an APScheduler job.
    jobs = Scheduler().build().get_jobs()
    assert {job.id for job in jobs} == {
        "notifications",
        "subscribers",
        "certificates",
        "rollups",
        "prune",
        "push-deadlines",
        "maintenance",
        "locations",
        "escalation",
    }


@pytest.mark.django_db(transaction=True)
def test_start_scheduler_checks_on_its_own_and_stops_on_sigterm(alice, http_target):
    http_target.set("/", 200, "ok")
    server = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port, check_interval=10)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "start_scheduler", "--tick", "0.2", "--concurrency", "2"],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not PingResult.objects.filter(server=server).exists():
            time.sleep(0.2)
        assert PingResult.objects.filter(server=server).exists(), "the scheduler checked the server"
        assert Server.objects.get(pk=server.pk).status == "up"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "Scheduler stopped." in output


def test_a_bad_interval_is_refused_with_a_message():
    result = subprocess.run(
        [sys.executable, "manage.py", "start_scheduler", "--interval", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--interval must be between 10 and 86400" in result.stderr


@pytest.mark.django_db
def test_a_late_run_of_any_job_is_not_skipped():
    for job in Scheduler().build().get_jobs():
        assert job.misfire_grace_time is None, job.id
        assert job.coalesce and job.max_instances == 1, job.id


@pytest.mark.django_db
def test_each_job_run_schedules_the_next_after_it_ends_so_runs_never_overlap():
    scheduler = Scheduler()
    calls: list[int] = []
    scheduler.send_step = lambda: bool(calls.append(1))  # type: ignore[method-assign]
    jobs = scheduler.build()
    jobs.start(paused=True)
    try:
        first = jobs.get_job("notifications").next_run_time
        jobs.get_job("notifications").func()  # one run, as APScheduler calls it
        assert calls == [1]
        following = jobs.get_job("notifications").next_run_time
        assert following >= first + timedelta(seconds=settings.NOTIFICATION_SEND_INTERVAL)
        assert len(jobs.get_jobs()) == len(scheduler.jobs()), "the run replaced its job, it did not add a second"
    finally:
        jobs.shutdown(wait=False)
