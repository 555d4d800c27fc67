"""manage.py check_servers end to end, and claiming due servers."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monitoring.choices import PingStatus, Status
from monitoring.models import PingResult, ProbeLocation, Server, ServerLocation
from monitoring.tasks import engine
from monitoring.tests.factories import make_server


def run(*args: str) -> str:
    out = StringIO()
    call_command("check_servers", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def targets(alice, http_target, tcp_closed_port):
    http_target.set("/", 200, "fine")
    up = make_server(alice, name="site", protocol="http", host="127.0.0.1", port=http_target.port)
    down = make_server(alice, name="cache", protocol="tcp", host="127.0.0.1", port=tcp_closed_port)
    Server.objects.update(next_check_at=timezone.now())  # both due now (creation spreads them)
    return up, down


@pytest.mark.django_db(transaction=True)
def test_it_checks_due_servers_concurrently_and_prints_a_summary(targets):
    up, down = targets
    output = run("--concurrency", "4")
    assert "Checked 2: 1 up, 1 down, 0 degraded, 0 error(s)." in output
    assert "site" in output and "cache" in output and "[2/2]" in output
    assert Server.objects.get(pk=up.pk).status == Status.UP
    assert Server.objects.get(pk=down.pk).status == Status.DOWN
    assert PingResult.objects.count() == 2
    # Both moved one interval on from their due time, so a second pass right away has nothing due.
    assert "Checked 0" in run()
    assert PingResult.objects.count() == 2


@pytest.mark.django_db
def test_all_checks_active_servers_whether_due_or_not(targets, alice):
    Server.objects.update(next_check_at=timezone.now() + timedelta(hours=1))
    make_server(alice, name="paused", is_active=False)
    assert "Checked 2:" in run("--all", "--concurrency", "1")


@pytest.mark.django_db
def test_all_leaves_servers_checked_only_from_agents_locations_to_their_agents(targets, alice):
    up, down = targets
    elsewhere = ProbeLocation.objects.create(name="Frankfurt", slug="eu")
    ServerLocation.objects.create(server=down, location=elsewhere)
    ServerLocation.objects.create(server=up, location=ProbeLocation.objects.local(), position=0)
    ServerLocation.objects.create(server=up, location=elsewhere, position=1)
    assert "Checked 1:" in run("--all", "--concurrency", "1")
    assert list(PingResult.objects.values_list("server_id", flat=True)) == [up.pk]


@pytest.mark.django_db
def test_server_option_checks_just_those_even_when_paused(targets, alice):
    up, _ = targets
    Server.objects.update(next_check_at=timezone.now() + timedelta(hours=1))
    run("--server", str(up.pk), "--concurrency", "1")
    assert list(PingResult.objects.values_list("server_id", flat=True)) == [up.pk]


@pytest.mark.django_db
def test_an_unknown_server_id_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No server with id 424242"):
        run("--server", "424242")


@pytest.mark.django_db
def test_fail_on_down_exits_2_only_with_a_down_server(targets):
    up, down = targets
    assert "1 up" in run("--server", str(up.pk), "--fail-on-down", "--concurrency", "1")
    with pytest.raises(SystemExit) as exit_info:
        run("--server", str(down.pk), "--fail-on-down", "--concurrency", "1")
    assert exit_info.value.code == 2


@pytest.mark.django_db
def test_a_broken_probe_is_recorded_as_an_error_and_does_not_stop_the_pass(targets):
    """Issue 14 A.1: the pass shares the engine's error path, so a probe that raises is an ERROR
    check like the scheduler's (the old runner dropped it without a PingResult)."""
    up, down = targets
    real = engine.probe_async

    async def flaky(server, client):
        if server.pk == up.pk:
            raise RuntimeError("probe exploded")
        return await real(server, client)

    with mock.patch.object(engine, "probe_async", side_effect=flaky):
        output = run("--all", "--concurrency", "1")
    assert "0 error(s)" in output and "probe exploded" in output
    assert PingResult.objects.filter(server=down).count() == 1
    broken = PingResult.objects.get(server=up)
    assert broken.status == PingStatus.ERROR and broken.error_message == "RuntimeError: probe exploded"


@pytest.mark.django_db
def test_a_pass_of_due_servers_moves_each_on_from_its_due_time_not_from_when_it_ran(targets):
    up, down = targets
    due = timezone.now() - timedelta(seconds=7)
    # Servers on their grid: not the first check of two created together, which is followed by
    # a spread one (SPEC §23, issue 14 C.10).
    Server.objects.update(next_check_at=due, check_interval=60, spread_seconds=0)
    run("--concurrency", "2")
    for server in (up, down):
        server.refresh_from_db()
        assert server.next_check_at == due + timedelta(seconds=60)
        assert (server.lease_owner, server.lease_until) == ("", None)
