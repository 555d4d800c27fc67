"""run_check against real targets on 127.0.0.1: PingResult, ServerStatus and StatusChange rows."""

from __future__ import annotations

import pytest
from django.test import override_settings

from monitoring.choices import PingStatus, Protocol, Status
from monitoring.models import PingResult, Server, ServerStatus, StatusChange
from monitoring.services.engine import checks
from monitoring.tasks.engine import run_check


def http_server(owner, target, path="/", **fields) -> Server:
    return Server.objects.create(
        owner=owner,
        name="web",
        protocol=Protocol.HTTP,
        host="127.0.0.1",
        port=target.port,
        path=path,
        timeout=10,  # the target answers at once; a loaded machine may still take seconds
        **fields,
    )


def test_a_new_server_is_unknown_with_a_status_row(alice):
    server = Server.objects.create(owner=alice, name="x", host="example.com")
    assert server.status == Status.UNKNOWN
    assert ServerStatus.objects.get(server=server).status == Status.UNKNOWN


def test_http_200_makes_it_up_and_records_the_change(alice, http_target):
    http_target.set("/", 200, "hello")
    server = http_server(alice, http_target)
    record = run_check(server)
    assert record.ping.status == PingStatus.SUCCESS
    assert record.ping.status_code == 200 and record.ping.response_time > 0
    server.refresh_from_db()
    assert server.status == Status.UP == ServerStatus.objects.get(server=server).status
    change = StatusChange.objects.get(server=server)
    assert (change.previous_status, change.status, change.ping_id) == (Status.UNKNOWN, Status.UP, record.ping.pk)


def test_http_500_is_a_failure_and_down(alice, http_target):
    http_target.set("/", 500, "oops")
    server = http_server(alice, http_target)
    record = run_check(server)
    assert record.ping.status == PingStatus.FAILURE and record.ping.status_code == 500
    assert "HTTP 500" in record.ping.error_message
    assert Server.objects.get(pk=server.pk).status == Status.DOWN


def test_keyword_missing_is_a_failure(alice, http_target):
    http_target.set("/", 200, "all systems nominal")
    server = http_server(alice, http_target, keyword="healthy")
    assert run_check(server).ping.status == PingStatus.FAILURE
    server.keyword = "nominal"
    assert run_check(server).ping.status == PingStatus.SUCCESS


def test_slow_response_times_out(alice, http_target):
    http_target.set("/slow", 200, "late", delay=1.5)
    server = http_server(alice, http_target, path="/slow")
    server.timeout = 0.5
    record = run_check(server)
    assert record.ping.status == PingStatus.TIMEOUT


def test_slow_success_is_degraded(alice, http_target):
    http_target.set("/", 200, "ok", delay=0.3)
    server = http_server(alice, http_target, degraded_threshold_ms=100)
    assert run_check(server).state.status == Status.DEGRADED


def test_expected_codes_accept_a_redirect_target(alice, http_target):
    http_target.set("/old", 301, "", Location="/new")
    http_target.set("/new", 200, "moved here")
    server = http_server(alice, http_target, path="/old", keyword="moved here")
    assert run_check(server).ping.status == PingStatus.SUCCESS


def test_tcp_open_port_is_up_and_closed_port_is_down(alice, tcp_open_port, tcp_closed_port):
    up = Server.objects.create(owner=alice, name="db", protocol=Protocol.TCP, host="127.0.0.1", port=tcp_open_port)
    down = Server.objects.create(
        owner=alice, name="gone", protocol=Protocol.TCP, host="127.0.0.1", port=tcp_closed_port
    )
    assert run_check(up).state.status == Status.UP
    record = run_check(down)
    assert record.ping.status == PingStatus.ERROR and "refused" in record.ping.error_message.lower()
    assert record.state.status == Status.DOWN


def test_retries_keep_status_until_enough_failures(alice, http_target):
    http_target.set("/", 200)
    server = http_server(alice, http_target, retries=3)
    run_check(server)
    http_target.set("/", 503)
    for n in (1, 2):
        state = run_check(server).state
        assert state.status == Status.UP and state.message.startswith(f"failing ({n} of 3)")
    state = run_check(server).state
    assert state.status == Status.DOWN and state.consecutive_failures == 3
    assert list(StatusChange.objects.filter(server=server).values_list("status", flat=True)) == [Status.DOWN, Status.UP]
    assert state.uptime_percentage == 25.0


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_private_targets_are_refused_when_not_allowed(alice, http_target):
    http_target.set("/", 200)
    record = run_check(http_server(alice, http_target))
    assert record.ping.status == PingStatus.ERROR
    assert "MONITOR_ALLOW_PRIVATE_TARGETS" in record.ping.error_message
    assert http_target.requests == []


def test_pause_then_resume(alice):
    server = Server.objects.create(owner=alice, name="x", host="example.com")
    checks.pause(server)
    assert Server.objects.get(pk=server.pk).status == Status.PAUSED
    assert not Server.objects.get(pk=server.pk).is_active
    checks.pause(server)  # a second pause changes nothing
    assert StatusChange.objects.filter(server=server).count() == 1
    checks.resume(server)
    server.refresh_from_db()
    assert (server.status, server.is_active) == (Status.UNKNOWN, True)


def test_a_check_landing_on_a_paused_server_keeps_it_paused(alice, http_target):
    http_target.set("/", 500)
    server = http_server(alice, http_target)
    checks.pause(server)
    run_check(server)
    assert Server.objects.get(pk=server.pk).status == Status.PAUSED
    assert PingResult.objects.filter(server=server).count() == 1


@pytest.mark.parametrize(
    "protocol,port,expected",
    [
        ("http", None, "http://h.example:80/"),
        ("https", 8443, "https://h.example:8443/"),
        ("tcp", 22, "tcp://h.example:22"),
    ],
)
def test_url_of_a_server(protocol, port, expected):
    assert Server(protocol=protocol, host="h.example", port=port, path="/").url == expected


def test_https_with_an_untrusted_certificate_fails_unless_verification_is_off(alice, https_target):
    https_target.set("/", 200, "secure")
    server = Server.objects.create(
        owner=alice, name="tls", protocol=Protocol.HTTPS, host="127.0.0.1", port=https_target.port, timeout=10
    )
    record = run_check(server)
    assert record.ping.status == PingStatus.ERROR
    assert "TLS error" in record.ping.error_message and "certificate" in record.ping.error_message.lower()
    server.verify_tls = False
    record = run_check(server)
    assert record.ping.status == PingStatus.SUCCESS and record.ping.status_code == 200


def test_an_ipv6_target_is_checked(alice, http6_target):
    http6_target.set("/", 200, "v6")
    server = Server.objects.create(
        owner=alice, name="v6", protocol=Protocol.HTTP, host="::1", port=http6_target.port, timeout=10, keyword="v6"
    )
    assert server.url == f"http://[::1]:{http6_target.port}/"
    assert run_check(server).ping.status == PingStatus.SUCCESS


def test_a_head_check_and_a_custom_expected_code(alice, http_target):
    http_target.set("/gone", 410, "")
    server = http_server(alice, http_target, path="/gone", method="HEAD", expected_status_codes="410")
    assert run_check(server).ping.status == PingStatus.SUCCESS
    assert http_target.requests[-1].method == "HEAD"


def test_the_probe_sends_our_user_agent(alice, http_target):
    http_target.set("/", 200)
    run_check(http_server(alice, http_target))
    assert http_target.requests[-1].headers["User-Agent"].startswith("PulseGuard/")
