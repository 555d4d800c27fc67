"""When certificates are checked: the scheduler's step, claims, and ``manage.py check_certificates``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from conftest import subprocess_env
from monitoring.models import CertificateCheck
from monitoring.models.certificates import certificate_check_due
from monitoring.services.engine import certificates
from monitoring.tasks.certificates import certificate_step, claim_due_certificates, claim_servers
from monitoring.tasks.scheduler import CERTIFICATE_STEP_SECONDS, Scheduler
from monitoring.tests.factories import make_server

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str) -> str:
    out = StringIO()
    call_command("check_certificates", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def servers(alice, https_target):
    """Every kind of server on the one local https target; only the due https ones get checked."""

    def server(name: str, **fields):
        values = {"protocol": "https", "host": "127.0.0.1", "port": https_target.port, "timeout": 5}
        values.update(fields)
        return make_server(alice, name=name, **values)

    never = server("never checked")
    stale = server("checked long ago")
    CertificateCheck.objects.create(server=stale, checked_at=timezone.now() - timedelta(hours=13), valid=True)
    fresh = server("checked recently")
    CertificateCheck.objects.create(server=fresh, checked_at=timezone.now() - timedelta(hours=1), valid=True)
    plain = server("plain http", protocol="http")
    paused = server("paused", is_active=False)
    return {"never": never, "stale": stale, "fresh": fresh, "plain": plain, "paused": paused}


@pytest.mark.django_db
def test_only_active_https_servers_without_a_recent_check_are_due(servers):
    due = set(certificate_check_due(timezone.now()).values_list("name", flat=True))
    assert due == {"never checked", "checked long ago"}


@pytest.mark.django_db
def test_the_interval_is_a_setting(servers):
    with override_settings(CERT_CHECK_INTERVAL_HOURS=24):
        assert set(certificate_check_due(timezone.now()).values_list("name", flat=True)) == {"never checked"}


@pytest.mark.django_db(transaction=True)  # the step closes stale connections, as a worker must
def test_a_step_checks_only_due_https_servers_and_a_second_step_finds_nothing(servers):
    assert certificate_step(concurrency=1) is True
    new = CertificateCheck.objects.filter(checked_at__gt=timezone.now() - timedelta(minutes=1))
    assert sorted(new.values_list("server__name", flat=True)) == ["checked long ago", "never checked"]
    assert not new.filter(in_progress=True).exists()
    assert all("self-signed certificate" in c.error and c.expires_at for c in new)
    assert CertificateCheck.objects.filter(server=servers["fresh"]).count() == 1
    assert not CertificateCheck.objects.filter(server__in=[servers["plain"], servers["paused"]]).exists()
    assert certificate_step(concurrency=1) is False
    assert CertificateCheck.objects.count() == 4


@pytest.mark.django_db(transaction=True)  # worker threads use their own connections
def test_a_step_checks_several_servers_at_once(servers):
    assert certificate_step(concurrency=4) is True
    assert CertificateCheck.objects.filter(in_progress=False).count() == 4
    assert not certificate_check_due(timezone.now()).exists()


@pytest.mark.django_db(transaction=True)  # the step closes stale connections, as a worker must
def test_a_step_claims_at_most_its_batch(servers):
    assert certificate_step(concurrency=1, limit=1) is True
    assert certificate_check_due(timezone.now()).count() == 1


@pytest.mark.django_db
def test_a_claim_makes_the_server_not_due_and_stays_hidden_until_filled(servers):
    claims = claim_due_certificates(timezone.now())
    assert {c.server.name for c in claims} == {"never checked", "checked long ago"}
    assert all(c.in_progress and c.pk for c in claims)
    assert not certificate_check_due(timezone.now()).exists()
    assert CertificateCheck.objects.latest_for(servers["never"]) is None
    assert CertificateCheck.objects.latest_for(servers["stale"]).in_progress is False


@pytest.mark.django_db
def test_a_server_another_process_claimed_first_is_dropped(servers):
    now = timezone.now()
    read_before = list(certificate_check_due(now))  # what this process saw before taking its locks
    other_process = claim_due_certificates(now)  # …and another process claimed them meanwhile
    assert len(other_process) == 2
    assert claim_servers(read_before, now) == []
    assert CertificateCheck.objects.filter(in_progress=True).count() == 2


@pytest.mark.django_db(transaction=True)  # the step closes stale connections, as a worker must
def test_a_check_that_raises_completes_its_claim_with_the_error_and_the_step_goes_on(servers):
    real = certificates.store_certificate  # the engine stores each check with it

    def broken_for_one(server, outcome, claim=None):
        if server.pk == servers["never"].pk:
            raise RuntimeError("boom")
        return real(server, outcome, claim)

    with mock.patch.object(certificates, "store_certificate", side_effect=broken_for_one):
        assert certificate_step(concurrency=1) is True
    failed = CertificateCheck.objects.get(server=servers["never"])
    assert failed.in_progress is False and failed.error == "RuntimeError: boom"
    assert CertificateCheck.objects.filter(server=servers["stale"], in_progress=False).count() == 2
    assert certificate_step(concurrency=1) is False


@pytest.mark.django_db
def test_the_scheduler_registers_the_certificate_job():
    jobs = {job.id: job for job in Scheduler().build().get_jobs()}
    assert "certificates" in jobs
    assert jobs["certificates"].max_instances == 1
    # Each run schedules the next one CERTIFICATE_STEP_SECONDS after it ends (tasks.scheduler).
    assert {job_id: seconds for job_id, _, seconds in Scheduler().jobs()}["certificates"] == CERTIFICATE_STEP_SECONDS


@pytest.mark.django_db(transaction=True)
def test_start_scheduler_checks_certificates_on_its_own(alice, https_target):
    server = make_server(alice, host="127.0.0.1", port=https_target.port, timeout=5, is_active=True)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "start_scheduler", "--tick", "0.5"],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    done = CertificateCheck.objects.filter(server=server, in_progress=False)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not done.exists():
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert done.exists(), f"the scheduler did not check the certificate; its output:\n{output}"
    assert "self-signed certificate" in done.get().error
    assert proc.returncode == 0, output


# --- manage.py check_certificates


@pytest.mark.django_db
def test_the_command_checks_due_certificates_and_prints_a_table(servers, https_target):
    output = run("--concurrency", "1")
    assert "Checking 2 certificate(s)" in output
    assert "[2/2]" in output and "invalid: self-signed certificate" in output
    header = next(line for line in output.splitlines() if line.startswith("ID"))
    assert header.split() == ["ID", "SERVER", "VALID", "EXPIRES", "DAYS", "ISSUER", "NEEDS_RENEWAL"]
    row = next(line for line in output.splitlines() if line.startswith(f"{servers['never'].pk} "))
    assert "never checked" in row and "CN=localhost" in row and " no " in row and " 29 " in row
    assert "Checked 2: 0 valid, 2 invalid, 0 need renewal, 0 error(s)." in output
    assert CertificateCheck.objects.filter(server=servers["never"], in_progress=False).count() == 1
    # The command claims like the scheduler, so a second run right away has nothing due.
    assert "Checking 0 certificate(s)" in run()
    assert CertificateCheck.objects.count() == 4


@pytest.mark.django_db
def test_the_command_with_all_checks_every_active_https_server_due_or_not(servers):
    output = run("--all", "--concurrency", "1")
    assert "Checked 3:" in output
    assert CertificateCheck.objects.filter(server=servers["fresh"]).count() == 2
    assert not CertificateCheck.objects.filter(server__in=[servers["plain"], servers["paused"]]).exists()


@pytest.mark.django_db
def test_the_command_with_server_checks_just_that_one_even_when_paused(servers):
    run("--server", str(servers["paused"].pk), "--concurrency", "1")
    assert list(CertificateCheck.objects.values_list("server__name", flat=True).order_by("id"))[-1] == "paused"
    assert CertificateCheck.objects.count() == 3


@pytest.mark.django_db
def test_the_command_refuses_unknown_and_non_https_servers(servers):
    with pytest.raises(CommandError, match="No server with id 424242"):
        run("--server", "424242")
    with pytest.raises(
        CommandError,
        match=f"Certificate checks are for https servers, and smtp servers with TLS. Not https: {servers['plain'].pk}",
    ):
        run("--server", str(servers["plain"].pk))
    assert CertificateCheck.objects.count() == 2


@pytest.mark.django_db
def test_the_command_warns_when_a_certificate_needs_renewal(servers):
    with override_settings(CERT_RENEWAL_DAYS=60):
        output = run("--server", str(servers["never"].pk))
    assert "1 need renewal" in output and "Some certificates need renewal." in output
