"""The network kinds of SPEC §19 end to end: ``ping``, ``dns``, ``smtp``, ``websocket`` and ``tcp``
with send/expect, each against a real local server started here (up, down, the guard), and the
API's rules for every new field (a field of another kind is a 400 naming it)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from unittest import mock

import icmplib
import pytest
from django.test import override_settings

from monitoring.choices import PingStatus, Protocol, Status
from monitoring.models import PingResult, Server
from monitoring.services.engine import probes_net
from monitoring.tasks.engine import run_check
from monitoring.tests.factories import make_server, probe_once
from tests.protocol_targets import LocalDNSServer, LocalLineServer, LocalSMTP, LocalWebSocketServer
from tests.targets import closed_port, self_signed_cert

GUARDED = override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)


def post_server(client, **fields):
    return client.post("/api/servers/", {"name": "x"} | fields, format="json")


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# --- ping


def icmp_works() -> str:
    """Why ICMP cannot be tested here, or "" when it can (unprivileged ping sockets or root)."""
    for privileged in (False, True):
        try:
            icmplib.ICMPv4Socket(privileged=privileged).close()
        except icmplib.SocketPermissionError:
            continue
        return ""
    return "the kernel refuses unprivileged ICMP (sysctl net.ipv4.ping_group_range) and the tests do not run as root"


needs_icmp = pytest.mark.skipif(bool(icmp_works()), reason=icmp_works() or "-")


@needs_icmp
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_ping_loopback_is_up_with_the_average_round_trip(alice, host):
    if host == "::1" and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    record = run_check(make_server(alice, protocol=Protocol.PING, host=host, ping_count=3, timeout=3))
    assert record.ping.status == PingStatus.SUCCESS, record.ping.error_message
    assert record.ping.response_time is not None and record.ping.response_time >= 0
    assert record.state.status == Status.UP


def test_ping_with_every_packet_lost_fails(alice):
    # No local address loses echo requests it was sent, so the lost packets are icmplib's answer, stubbed.
    lost = icmplib.Host("127.0.0.1", 3, [])
    server = make_server(alice, protocol=Protocol.PING, host="127.0.0.1", ping_count=3, timeout=2)
    with mock.patch.object(probes_net._Icmp, "ping", mock.AsyncMock(return_value=lost)):
        record = run_check(server)
    assert record.ping.status == PingStatus.FAILURE
    assert record.ping.error_message == "no echo reply (0/3 replies, 100% loss)"
    assert record.state.status == Status.DOWN


def test_ping_that_could_send_nothing_fails_and_says_so(alice):
    # icmplib swallows a refused send: 0 sent, 0 received, "0% loss" by its arithmetic.
    unsent = icmplib.Host("127.0.0.1", 0, [])
    server = make_server(alice, protocol=Protocol.PING, host="127.0.0.1", ping_count=3, timeout=2)
    with mock.patch.object(probes_net._Icmp, "ping", mock.AsyncMock(return_value=unsent)):
        record = run_check(server)
    assert record.ping.status == PingStatus.FAILURE
    assert record.ping.error_message == "no echo request could be sent to 127.0.0.1"
    assert record.state.status == Status.DOWN


@needs_icmp
def test_ping_of_loopbacks_broadcast_address_is_down(alice):
    # The one loopback address that never answers: the kernel refuses to send to it.
    record = run_check(make_server(alice, protocol=Protocol.PING, host="127.255.255.255", ping_count=2, timeout=2))
    assert record.ping.status == PingStatus.FAILURE
    assert record.ping.error_message == "no echo request could be sent to 127.255.255.255"
    assert record.state.status == Status.DOWN


def test_partial_loss_fails_only_at_the_threshold(alice):
    half = icmplib.Host("127.0.0.1", 4, [1.0, 3.0])
    server = make_server(alice, protocol=Protocol.PING, host="127.0.0.1", ping_count=4, timeout=3)
    with mock.patch.object(probes_net._Icmp, "ping", mock.AsyncMock(return_value=half)):
        assert probe_once(server).status == PingStatus.SUCCESS  # 100: only when all are lost
        server.packet_loss_threshold = 50
        outcome = probe_once(server)
    assert outcome.status == PingStatus.FAILURE and "packet loss 50%" in outcome.error_message
    assert outcome.response_time == 2.0


def test_ping_says_when_the_kernel_refuses_icmp(alice):
    server = make_server(alice, protocol=Protocol.PING, host="127.0.0.1", timeout=2)
    with (
        mock.patch.object(probes_net._Icmp, "privileged", None),
        mock.patch.object(icmplib, "async_ping", side_effect=icmplib.SocketPermissionError(False)),
        mock.patch.object(probes_net._RawIcmp, "_socket", side_effect=PermissionError(1, "Operation not permitted")),
    ):
        outcome = probe_once(server)
    assert outcome.status == PingStatus.ERROR
    assert "net.ipv4.ping_group_range" in outcome.error_message and "CAP_NET_RAW" in outcome.error_message


def raw_icmp_works() -> bool:
    try:
        probes_net._RawIcmp._socket(socket.AF_INET).close()
    except PermissionError:
        return False
    return True


@pytest.mark.skipif(not raw_icmp_works(), reason="raw ICMP sockets need root or CAP_NET_RAW")
def test_concurrent_raw_pings_share_one_socket_and_each_gets_its_own_replies():
    # A raw ICMP socket receives every echo reply on the host: one per ping made each parse all the others'.
    async def pings() -> list[icmplib.Host]:
        return await asyncio.gather(
            *(probes_net._RawIcmp.ping(socket.AF_INET, "127.0.0.1", 3, 1.0) for _ in range(20)),
            probes_net._RawIcmp.ping(socket.AF_INET, "127.255.255.255", 2, 0.5),  # refused send: not sent
        )

    with mock.patch.object(probes_net._RawIcmp, "_socket", wraps=probes_net._RawIcmp._socket) as opened:
        hosts = asyncio.run(pings())
    assert opened.call_count == 1
    assert [(h.packets_sent, h.packets_received) for h in hosts] == [(3, 3)] * 20 + [(0, 0)]
    assert all(0 <= rtt < 1000 for h in hosts for rtt in h.rtts)
    assert probes_net._RawIcmp._open == {}  # closed with the last ping in flight


@GUARDED
def test_ping_of_a_private_address_is_refused_by_the_guard(alice):
    server = make_server(alice, protocol=Protocol.PING, host="127.0.0.1", timeout=2)
    with mock.patch.object(icmplib, "async_ping") as sent:
        outcome = probe_once(server)
    assert outcome.status == PingStatus.ERROR and "MONITOR_ALLOW_PRIVATE_TARGETS" in outcome.error_message
    sent.assert_not_called()


# --- dns


@pytest.fixture
def dns_server():
    with LocalDNSServer() as server:
        server.records[("www.example.test", "A")] = ["192.0.2.10", "192.0.2.11"]
        server.records[("example.test", "MX")] = ["10 mail.example.test.", "20 backup.example.test."]
        server.records[("example.test", "TXT")] = ['"v=spf1 -all"']
        server.records[("example.test", "CAA")] = ['0 issue "letsencrypt.org"']
        server.records[("_sip._tcp.example.test", "SRV")] = ["10 60 5060 sip.example.test."]
        server.records[("alias.example.test", "CNAME")] = ["www.example.test."]
        server.rcodes["gone.example.test"] = "NXDOMAIN"
        server.rcodes["broken.example.test"] = "SERVFAIL"
        yield server


def dns_check(owner, resolver, host, record_type="A", **fields) -> Server:
    values = {"protocol": Protocol.DNS, "host": host, "dns_record_type": record_type, "dns_resolver": resolver}
    return make_server(owner, **({"timeout": 2} | values | fields))


def test_dns_answers_are_kept_in_the_detail_and_shown_by_the_api(alice, alice_client, dns_server):
    server = dns_check(alice, dns_server.address, "www.example.test", dns_expected=["192.0.2.11"])
    record = run_check(server)
    assert record.ping.status == PingStatus.SUCCESS, record.ping.error_message
    assert record.ping.detail == {"rcode": "NOERROR", "answers": ["192.0.2.10", "192.0.2.11"]}
    shown = alice_client.get(f"/api/ping-results/?server={server.pk}").json()["results"][0]
    assert shown["detail"] == {"rcode": "NOERROR", "answers": ["192.0.2.10", "192.0.2.11"]}


@pytest.mark.parametrize(
    ("host", "record_type", "expected"),
    [
        ("example.test", "MX", ["10 MAIL.example.test.", "20 backup.example.test"]),
        ("example.test", "TXT", ["v=spf1 -all"]),
        ("example.test", "CAA", ["0 issue letsencrypt.org"]),
        ("_sip._tcp.example.test", "SRV", ["10 60 5060 sip.example.test"]),
        ("alias.example.test", "CNAME", ["www.example.test"]),
    ],
)
def test_dns_expected_values_match_the_usual_text_form(alice, dns_server, host, record_type, expected):
    outcome = probe_once(dns_check(alice, dns_server.address, host, record_type, dns_expected=expected))
    assert outcome.status == PingStatus.SUCCESS, (outcome.error_message, outcome.detail)


def test_dns_fails_when_an_expected_value_is_missing(alice, dns_server):
    outcome = probe_once(dns_check(alice, dns_server.address, "www.example.test", dns_expected=["192.0.2.99"]))
    assert outcome.status == PingStatus.FAILURE and "'192.0.2.99'" in outcome.error_message
    assert outcome.detail["answers"] == ["192.0.2.10", "192.0.2.11"]


@pytest.mark.parametrize(
    ("host", "message", "rcode"),
    [
        ("gone.example.test", "DNS answered NXDOMAIN", "NXDOMAIN"),
        ("broken.example.test", "DNS answered SERVFAIL", "SERVFAIL"),
        ("www.example.test", "no answer (NOERROR)", "NOERROR"),  # asked for AAAA: none
    ],
)
def test_dns_failures_name_the_rcode(alice, dns_server, host, message, rcode):
    record_type = "AAAA" if rcode == "NOERROR" else "A"
    outcome = probe_once(dns_check(alice, dns_server.address, host, record_type))
    assert outcome.status == PingStatus.FAILURE and outcome.error_message == message
    assert outcome.detail == {"rcode": rcode, "answers": []}


def test_dns_with_the_resolver_stopped_times_out(alice):
    with LocalDNSServer() as stopped:
        address = stopped.address
    outcome = probe_once(dns_check(alice, address, "www.example.test", timeout=0.5))
    assert outcome.status in (PingStatus.TIMEOUT, PingStatus.ERROR)
    assert outcome.status != PingStatus.SUCCESS and outcome.error_message


@GUARDED
def test_the_guard_applies_to_the_dns_resolver(alice, dns_server):
    outcome = probe_once(dns_check(alice, dns_server.address, "www.example.test"))
    assert outcome.status == PingStatus.ERROR and "MONITOR_ALLOW_PRIVATE_TARGETS" in outcome.error_message
    assert dns_server.queries == 0


# --- tcp send/expect


def test_tcp_sends_its_bytes_and_finds_the_expected_answer(alice):
    with LocalLineServer() as target:
        server = make_server(
            alice, protocol=Protocol.TCP, host="127.0.0.1", port=target.port, tcp_send=r"PING\r\n", tcp_expect="+PONG"
        )
        record = run_check(server)
        assert record.ping.status == PingStatus.SUCCESS, record.ping.error_message
        assert target.received == [b"PING\r\n"]
        server.tcp_send = r"HELLO\r\n"
        outcome = probe_once(server)
    assert outcome.status == PingStatus.FAILURE
    assert outcome.error_message == "'+PONG' not in the answer (got '-ERR unknown\\r\\n')"


def test_tcp_expect_alone_reads_a_banner(alice):
    with LocalLineServer() as target:
        target.banner = b"SSH-2.0-OpenSSH_9.6\r\n"
        outcome = probe_once(
            make_server(alice, protocol=Protocol.TCP, host="127.0.0.1", port=target.port, tcp_expect="SSH-2.0")
        )
    assert outcome.status == PingStatus.SUCCESS, outcome.error_message


def test_tcp_exchange_with_the_target_stopped_fails(alice):
    server = make_server(alice, protocol=Protocol.TCP, host="127.0.0.1", port=closed_port(), tcp_expect="x", timeout=2)
    outcome = probe_once(server)
    assert outcome.status == PingStatus.ERROR and "connection failed" in outcome.error_message


@GUARDED
def test_tcp_exchange_is_guarded(alice):
    with LocalLineServer() as target:
        server = make_server(
            alice, protocol=Protocol.TCP, host="127.0.0.1", port=target.port, tcp_send="PING", timeout=2
        )
        outcome = probe_once(server)
        assert target.received == []
    assert outcome.status == PingStatus.ERROR and "MONITOR_ALLOW_PRIVATE_TARGETS" in outcome.error_message


# --- websocket


@pytest.fixture
def ws_target():
    with LocalWebSocketServer() as target:
        yield target


def ws_check(owner, target, path, **fields) -> Server:
    values = {"protocol": Protocol.WEBSOCKET, "host": "127.0.0.1", "port": target.port, "path": path, "timeout": 3}
    return make_server(owner, **(values | fields))


def test_websocket_handshake_alone_is_up_and_sends_the_headers(alice, ws_target):
    record = run_check(ws_check(alice, ws_target, "/silent", request_headers={"X-Token": "t-1"}))
    assert record.ping.status == PingStatus.SUCCESS, record.ping.error_message
    assert record.ping.status_code == 101
    assert ws_target.headers[-1]["X-Token"] == "t-1"


def test_websocket_sends_and_judges_the_first_message(alice, ws_target):
    server = ws_check(alice, ws_target, "/echo", ws_send="hello", keyword="echo: hello")
    assert probe_once(server).status == PingStatus.SUCCESS
    server.keyword = "goodbye"
    outcome = probe_once(server)
    assert outcome.status == PingStatus.FAILURE and outcome.error_message == "keyword 'goodbye' not found"


def test_websocket_assertions_read_the_first_message_as_the_body(alice, ws_target):
    ok = [{"source": "json:$.status", "op": "==", "value": "ok"}]
    assert probe_once(ws_check(alice, ws_target, "/hello", assertions=ok)).status == PingStatus.SUCCESS
    bad = [{"source": "json:$.users", "op": ">", "value": 5}]
    outcome = probe_once(ws_check(alice, ws_target, "/hello", assertions=bad))
    assert (
        outcome.status == PingStatus.FAILURE and outcome.error_message == "assertion failed: json:$.users > 5 (got 3)"
    )


def test_websocket_waiting_for_a_message_that_never_comes_times_out(alice, ws_target):
    outcome = probe_once(ws_check(alice, ws_target, "/silent", ws_send="hi", timeout=0.5))
    assert outcome.status == PingStatus.TIMEOUT and "WebSocket answer" in outcome.error_message


def test_websocket_refused_upgrade_and_stopped_target(alice, http_target):
    http_target.set("/", 200, "not a websocket")
    server = make_server(alice, protocol=Protocol.WEBSOCKET, host="127.0.0.1", port=http_target.port, timeout=2)
    outcome = probe_once(server)
    assert outcome.status == PingStatus.FAILURE and "upgrade refused: HTTP 200" in outcome.error_message
    server.port = closed_port()
    outcome = probe_once(server)
    assert outcome.status == PingStatus.ERROR and "connection failed" in outcome.error_message


@GUARDED
def test_websocket_is_guarded(alice, ws_target):
    outcome = probe_once(ws_check(alice, ws_target, "/hello"))
    assert outcome.status == PingStatus.ERROR and "MONITOR_ALLOW_PRIVATE_TARGETS" in outcome.error_message
    assert ws_target.headers == []


# --- smtp


@pytest.fixture
def tls_files(tmp_path):
    return self_signed_cert(str(tmp_path))


def tls_context(files) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*files)
    return context


def smtp_check(owner, target, **fields) -> Server:
    values = {"protocol": Protocol.SMTP, "host": "127.0.0.1", "port": target.port, "timeout": 3}
    return make_server(owner, **(values | fields))


def test_smtp_banner_and_ehlo_without_starttls(alice):
    with LocalSMTP() as target:
        server = smtp_check(alice, target)
        assert server.smtp_uses_starttls is False  # not port 25 or 587
        record = run_check(server)
    assert record.ping.status == PingStatus.SUCCESS, record.ping.error_message
    assert record.ping.response_time > 0


def test_smtp_starttls_verifies_the_certificate_against_cert_ca_bundle(alice, tls_files):
    with LocalSMTP(tls_context(tls_files)) as target:
        server = smtp_check(alice, target, smtp_starttls=True)
        outcome = probe_once(server)
        assert outcome.status == PingStatus.ERROR and "certificate verify failed" in outcome.error_message
        with override_settings(CERT_CA_BUNDLE=tls_files[0]):
            outcome = probe_once(server)
        assert outcome.status == PingStatus.SUCCESS, outcome.error_message
        server.verify_tls = False
        assert probe_once(server).status == PingStatus.SUCCESS


def test_smtp_on_port_465_speaks_tls_from_the_start(alice, tls_files):
    try:
        target = LocalSMTP(implicit_tls=tls_context(tls_files), port=465)
        target.__enter__()
    except (OSError, RuntimeError) as exc:
        pytest.skip(f"port 465 on 127.0.0.1 is not available here: {exc}")
    try:
        server = smtp_check(alice, target)
        assert server.port == 465 and server.smtp_uses_starttls is False
        with override_settings(CERT_CA_BUNDLE=tls_files[0]):
            outcome = probe_once(server)
        assert outcome.status == PingStatus.SUCCESS, outcome.error_message
        outcome = probe_once(server)  # the system store does not know the certificate
        assert outcome.status == PingStatus.ERROR and "certificate verify failed" in outcome.error_message
    finally:
        target.__exit__()


def test_smtp_starttls_wanted_but_not_offered_fails(alice):
    with LocalSMTP() as target:
        outcome = probe_once(smtp_check(alice, target, smtp_starttls=True))
    assert outcome.status == PingStatus.ERROR and outcome.error_message == "the server does not offer STARTTLS"


def test_smtp_with_the_server_stopped_fails(alice):
    outcome = probe_once(make_server(alice, protocol=Protocol.SMTP, host="127.0.0.1", port=closed_port(), timeout=2))
    assert outcome.status == PingStatus.ERROR and "SMTP failed" in outcome.error_message


@GUARDED
def test_smtp_is_guarded(alice):
    with LocalSMTP() as target:
        outcome = probe_once(smtp_check(alice, target))
    assert outcome.status == PingStatus.ERROR and "MONITOR_ALLOW_PRIVATE_TARGETS" in outcome.error_message


def test_smtp_starttls_defaults_by_port(alice):
    for port, expected in ((25, True), (587, True), (2525, False), (465, False)):
        assert Server(protocol=Protocol.SMTP, host="mx.example.com", port=port).smtp_uses_starttls is expected
    assert Server(protocol=Protocol.SMTP, host="mx.example.com").smtp_uses_starttls is True  # port 25 by default


# --- The rules of the new fields (one place: validators.PROTOCOL_FIELDS).


@pytest.mark.parametrize(
    ("protocol", "field", "value"),
    [
        ("https", "ping_count", 5),
        ("tcp", "packet_loss_threshold", 50),
        ("ping", "dns_record_type", "MX"),
        ("ping", "dns_resolver", "9.9.9.9"),
        ("https", "dns_expected", ["1.2.3.4"]),
        ("https", "smtp_starttls", True),
        ("https", "db_query", "SELECT 2"),
        ("https", "grpc_service", "svc"),
        ("dns", "grpc_tls", True),
        ("tcp", "ws_send", "hi"),
        ("https", "ws_tls", True),
        ("https", "tcp_send", "PING"),
        ("smtp", "tcp_expect", "x"),
        ("dns", "request_headers", {"X-A": "1"}),
        ("websocket", "request_body", "x"),
        ("ping", "assertions", [{"source": "body", "op": "contains", "value": "x"}]),
    ],
)
def test_a_field_of_another_kind_is_refused_naming_it(alice_client, protocol, field, value):
    fields = {"protocol": protocol, "host": "example.com", "port": 25, field: value}
    response = post_server(alice_client, **fields)
    assert response.status_code == 400, response.json()
    assert list(response.json()) == [field] and "leave it at its default" in response.json()[field][0]


def test_each_kind_takes_its_own_fields(alice_client):
    for fields in (
        {"protocol": "ping", "host": "example.com", "ping_count": 10, "packet_loss_threshold": 20},
        {"protocol": "dns", "host": "example.com", "dns_record_type": "MX", "dns_resolver": "[2620:fe::fe]:53"},
        {"protocol": "smtp", "host": "mx.example.com", "port": 587, "smtp_starttls": False},
        {"protocol": "grpc", "host": "api.example.com", "port": 50051, "grpc_service": "a.B", "grpc_tls": True},
        {"protocol": "websocket", "host": "ws.example.com", "ws_send": "hi", "ws_tls": True, "keyword": "x"},
        {"protocol": "tcp", "host": "example.com", "port": 6379, "tcp_send": r"PING\r\n", "tcp_expect": "+PONG"},
    ):
        response = post_server(alice_client, **fields)
        assert response.status_code == 201, (fields, response.json())
        body = response.json()
        assert all(body[k] == v for k, v in fields.items()), body


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"protocol": "ping", "ping_count": 11}, "ping_count"),
        ({"protocol": "ping", "ping_count": 0}, "ping_count"),
        ({"protocol": "ping", "packet_loss_threshold": 101}, "packet_loss_threshold"),
        ({"protocol": "dns", "dns_record_type": "PTR"}, "dns_record_type"),
        ({"protocol": "dns", "dns_resolver": "dns.google"}, "dns_resolver"),
        ({"protocol": "dns", "dns_resolver": "9.9.9.9:99999"}, "dns_resolver"),
        ({"protocol": "dns", "dns_expected": "1.2.3.4"}, "dns_expected"),
        ({"protocol": "dns", "dns_expected": [1]}, "dns_expected"),
        ({"protocol": "tcp", "port": 1, "tcp_send": "a\x00b"}, "tcp_send"),
        ({"protocol": "grpc"}, "port"),
        ({"protocol": "postgres", "dsn": "mysql://u:p@db.example.com/x"}, "dsn"),
        ({"protocol": "redis", "dsn": "redis://"}, "dsn"),
        ({"protocol": "mysql", "host": ""}, "dsn"),  # no dsn, and no host either
    ],
)
def test_bad_values_of_the_new_fields_are_400(alice_client, fields, field):
    response = post_server(alice_client, **({"host": "example.com"} | fields))
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()


def test_the_dsn_gives_host_and_port_and_is_never_shown(alice_client):
    response = post_server(
        alice_client,
        protocol="postgres",
        host="ignored.example.com",
        port=1,
        dsn="postgresql://mon:s3cret@DB.example.com/app",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["host"], body["port"]) == ("db.example.com", 5432) and "dsn" not in body
    assert "s3cret" not in alice_client.get(f"/api/servers/{body['id']}/").content.decode()
    assert body["url"] == "postgres://db.example.com:5432"
    response = alice_client.patch(
        f"/api/servers/{body['id']}/", {"dsn": "postgresql://mon:x@10.1.2.3:6432/app"}, format="json"
    )
    assert (response.json()["host"], response.json()["port"]) == ("10.1.2.3", 6432)
    assert Server.objects.get(pk=body["id"]).dsn == "postgresql://mon:x@10.1.2.3:6432/app"
    redis = post_server(alice_client, protocol="redis", dsn="rediss://:pw@cache.example.com:7000/0")
    assert (redis.json()["host"], redis.json()["port"]) == ("cache.example.com", 7000)


@GUARDED
def test_a_dsn_naming_a_private_address_is_refused(alice_client):
    response = post_server(alice_client, protocol="mysql", dsn="mysql://u:p@127.0.0.1:3306/x")
    assert response.status_code == 400 and "dsn" in response.json()


def test_the_config_export_leaves_out_the_dsn(alice_client):
    created = post_server(alice_client, protocol="redis", dsn="redis://:topsecret@cache.example.com/0")
    assert created.status_code == 201, created.json()
    exported = alice_client.get("/api/config/export/")
    assert exported.status_code == 200
    assert "topsecret" not in exported.content.decode()
    item = next(s for s in exported.json()["servers"] if s["name"] == "x")
    assert "dsn" not in item and item["host"] == "cache.example.com"
    # An account's own export imports back: the stored dsn is kept.
    response = alice_client.post("/api/config/import/", exported.json(), format="json")
    assert response.status_code == 200, response.json()
    assert Server.objects.get(name="x").dsn == "redis://:topsecret@cache.example.com/0"


def test_a_kind_without_a_probe_in_this_build_is_an_error_outcome(alice):
    server = make_server(alice, protocol=Protocol.GRPC, host="127.0.0.1", port=closed_port(), timeout=1)
    with mock.patch.dict("monitoring.services.engine.probes.PROBES", clear=False) as registry:
        registry.pop(Protocol.GRPC, None)
        outcome = probe_once(server)
    assert outcome.status == PingStatus.ERROR and "grpc checks are not available" in outcome.error_message
    assert not PingResult.objects.exists()


def test_an_smtp_servers_certificate_is_read_after_starttls_and_is_due_like_https(alice, tls_files):
    from django.utils import timezone

    from monitoring.models.certificates import certificate_check_due
    from monitoring.services.engine import certificates

    with LocalSMTP(tls_context(tls_files)) as target:
        server = smtp_check(alice, target, smtp_starttls=True)
        with override_settings(CERT_CA_BUNDLE=tls_files[0]):
            outcome = certificates.probe_certificate(server)
        assert outcome.valid and outcome.error == "" and outcome.days_remaining > 0
        outcome = certificates.probe_certificate(server)  # the system store does not know it
        assert not outcome.valid and outcome.error == "self-signed certificate"
        assert outcome.expires_at is not None, "a broken certificate is still read"
    plain = make_server(alice, name="plain", protocol=Protocol.SMTP, host="mx.example.com", port=2525)
    implicit = make_server(alice, name="465", protocol=Protocol.SMTP, host="mx.example.com", port=465)
    by_port = make_server(alice, name="25", protocol=Protocol.SMTP, host="mx.example.com")
    due = set(certificate_check_due(timezone.now()))
    assert {server, implicit, by_port} <= due and plain not in due
    assert [certificates.checks_certificate(s) for s in (server, plain, implicit, by_port)] == [True, False, True, True]


def test_the_certificate_read_fails_when_starttls_is_not_offered(alice):
    from monitoring.services.engine import certificates

    with LocalSMTP() as target:
        outcome = certificates.probe_certificate(smtp_check(alice, target, smtp_starttls=True))
    assert not outcome.valid and "does not offer STARTTLS" in outcome.error


def test_urls_of_the_new_kinds_never_show_the_dsn():
    def url(**fields):
        return Server(**fields).url

    assert url(protocol="ping", host="::1") == "ping://[::1]"
    assert url(protocol="dns", host="example.com", dns_record_type="MX") == "dns://example.com/MX"
    assert url(protocol="smtp", host="mx.example.com") == "smtp://mx.example.com:25"
    assert url(protocol="websocket", host="ws.example.com", path="/live") == "ws://ws.example.com:80/live"
    assert url(protocol="websocket", host="ws.example.com", ws_tls=True, path="/") == "wss://ws.example.com:443/"
    assert url(protocol="websocket", host="ws.example.com", port=443, path="/") == "wss://ws.example.com:443/"
    postgres = url(protocol="postgres", host="db.example.com", port=5432, dsn="postgresql://u:pw@db.example.com/x")
    assert postgres == "postgres://db.example.com:5432"


def test_tcp_escapes():
    from monitoring.validators import unescape_tcp

    assert unescape_tcp(r"PING\r\n") == b"PING\r\n"
    assert unescape_tcp(r"\x00\xff\t\0\\n") == b"\x00\xff\t\x00\\n"
    assert unescape_tcp("héllo") == "héllo".encode()
