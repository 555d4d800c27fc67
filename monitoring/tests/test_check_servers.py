"""manage.py check_servers end to end, and claiming due servers."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monitoring.choices import Status
from monitoring.models import PingResult, Server
from monitoring.tasks import runner
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
    # Both were pushed one interval ahead, so a second pass right away has nothing due.
    assert "Checked 0" in run()
    assert PingResult.objects.count() == 2


@pytest.mark.django_db
def test_all_checks_active_servers_whether_due_or_not(targets, alice):
    Server.objects.update(next_check_at=timezone.now() + timedelta(hours=1))
    make_server(alice, name="paused", is_active=False)
    assert "Checked 2:" in run("--all", "--concurrency", "1")


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
def test_a_broken_check_does_not_stop_the_pass(targets):
    up, down = targets
    real = runner.run_check

    def flaky(server):
        if server.pk == up.pk:
            raise RuntimeError("probe exploded")
        return real(server)

    with mock.patch.object(runner, "run_check", side_effect=flaky):
        output = run("--all", "--concurrency", "1")
    assert "1 error(s)" in output and "probe exploded" in output
    assert PingResult.objects.filter(server=down).count() == 1


@pytest.mark.django_db
def test_claim_due_takes_only_due_active_servers_and_moves_them_on(alice):
    due = make_server(alice, name="due", check_interval=60)
    later = make_server(alice, name="later")
    now = timezone.now()
    Server.objects.filter(pk=later.pk).update(next_check_at=now + timedelta(minutes=5))
    make_server(alice, name="paused", is_active=False)
    claimed = runner.claim_due(now)
    assert [s.pk for s in claimed] == [due.pk]
    assert Server.objects.get(pk=due.pk).next_check_at == now + timedelta(seconds=60)
    assert runner.claim_due(now) == []


@pytest.mark.django_db
def test_claim_due_with_interval_override(alice):
    server = make_server(alice, check_interval=60)
    now = timezone.now()
    runner.claim_due(now, interval=300)
    assert Server.objects.get(pk=server.pk).next_check_at == now + timedelta(seconds=300)


@pytest.mark.django_db
def test_a_server_claimed_by_another_process_in_between_is_dropped(alice):
    """The conditional UPDATE sees next_check_at moved by someone else and claims nothing."""
    server = make_server(alice)
    now = timezone.now()
    real_update = runner.Server.objects.filter

    def other_process_first(*args, **kwargs):
        if "next_check_at" in kwargs:  # the claim's conditional UPDATE
            Server.objects.filter(pk=server.pk).update(next_check_at=now + timedelta(seconds=99))
        return real_update(*args, **kwargs)

    with mock.patch.object(runner.Server.objects, "filter", side_effect=other_process_first):
        assert runner.claim_due(now) == []
    assert Server.objects.get(pk=server.pk).next_check_at == now + timedelta(seconds=99)
