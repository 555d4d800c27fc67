"""The one way out (services.net, services.aionet): the private-address guard against every
spelling of an address, what its errors say, the one redirect rule, and the one error reason."""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import requests
from django.test import override_settings

from monitoring.choices import PingStatus
from monitoring.models import CertificateCheck
from monitoring.services import net
from monitoring.services.alerts.notifiers.base import PermanentError, post
from monitoring.services.engine import certificates
from monitoring.tests.factories import make_server, probe_once

REAL_GETADDRINFO = socket.getaddrinfo

# Each spelling of an IPv4-translated address (RFC 2765/6145 SIIT, ::ffff:0:0:0/96) of a private
# IPv4 address; the translator delivers the packet to that IPv4 address.
TRANSLATED = [
    "::ffff:0:127.0.0.1",
    "::ffff:0:7f00:1",
    "::FFFF:0:7F00:1",
    "0:0:0:0:ffff:0:7f00:1",
    "0000:0000:0000:0000:ffff:0000:7f00:0001",
    "::ffff:0:10.0.0.1",
    "::ffff:0:a00:1",
    "::ffff:0:169.254.169.254",
    "::ffff:0:a9fe:a9fe",
    "::ffff:0:192.168.1.1",
    "::ffff:0:0.0.0.0",
    "::ffff:0:0:0",
    "::ffff:0:100.64.0.1",
]


@pytest.fixture
def dns() -> Iterator[dict[str, list[str]]]:
    """A stub resolver: ``dns[name]`` is the list of addresses a lookup of ``name`` answers."""
    answers: dict[str, list[str]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 0)))
            for a in answers[host]
        ]

    with mock.patch("socket.getaddrinfo", side_effect=getaddrinfo):
        yield answers


# --- The guard: every spelling of a private address.


@pytest.mark.parametrize("address", TRANSLATED)
def test_ipv4_translated_forms_of_private_addresses_are_private(address):
    assert net.is_private(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["::ffff:0:8.8.8.8", "::ffff:0:808:808"])
def test_an_ipv4_translated_public_address_is_judged_by_its_ipv4_address(address):
    assert not net.is_private(ipaddress.ip_address(address))


@pytest.mark.django_db
@pytest.mark.parametrize("address", TRANSLATED)
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_translated_host_is_refused_at_creation(alice_client, address):
    for host in (address, f"[{address}]"):
        body = {"name": "x", "protocol": "http", "host": host, "check_interval": 60}
        r = alice_client.post("/api/servers/", body, format="json")
        assert r.status_code == 400 and "MONITOR_ALLOW_PRIVATE_TARGETS" in r.json()["host"][0], r.json()


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["::ffff:0:127.0.0.1", "::ffff:0:a9fe:a9fe", "0:0:0:0:ffff:0:a00:1"])
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_translated_webhook_url_is_refused_at_creation(alice, alice_client, address):
    server = make_server(alice)
    body = {"server": server.pk, "notification_type": "webhook", "recipient": f"http://[{address}]/hook"}
    r = alice_client.post("/api/notification-configs/", body, format="json")
    assert r.status_code == 400 and "recipient" in r.json(), r.json()


@pytest.mark.django_db
@pytest.mark.parametrize("protocol", ["http", "tcp"])
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_stored_translated_host_is_refused_at_check_time(alice, protocol):
    server = make_server(alice, protocol=protocol, host="::ffff:0:7f00:1", port=80, timeout=2)
    outcome = probe_once(server)
    assert outcome.status == PingStatus.ERROR and "private or reserved" in outcome.error_message


@pytest.mark.django_db
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_check_ssl_refuses_a_translated_address(alice_client):
    r = alice_client.get("/api/check-ssl/", {"url": "https://[::ffff:0:7f00:1]:8443"})
    assert r.status_code == 400 and "private or reserved" in r.json()["url"][0]


@pytest.mark.django_db
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_name_resolving_to_a_translated_address_is_refused(alice, dns):
    dns["inside.test"] = ["::ffff:0:a9fe:a9fe"]
    outcome = probe_once(make_server(alice, protocol="http", host="inside.test", timeout=2))
    assert outcome.status == PingStatus.ERROR and "private or reserved" in outcome.error_message


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["0x7f000001", "2130706433", "0177.0.0.1", "127.1", "0x7f.0.0.1", "017700000001"])
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_legacy_ipv4_spellings_are_judged_by_the_address_they_resolve_to(alice, host):
    """inet_aton reads these as 127.0.0.1; the guard judges what the resolver answered."""
    outcome = probe_once(make_server(alice, protocol="http", host=host, port=80, timeout=2))
    assert outcome.status == PingStatus.ERROR
    # The guard refuses what resolves to loopback; aiohttp refuses the rest before resolving.
    assert "private or reserved" in outcome.error_message or "not a canonical IPv4 address" in outcome.error_message


# --- What a refusal says: that it was refused, never what an internal name resolves to.

SECRET_ADDRESS = "10.77.66.55"


@pytest.mark.django_db
@pytest.mark.parametrize("protocol", ["http", "https", "tcp"])
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_check_of_an_internal_name_does_not_say_what_it_resolves_to(alice, dns, protocol):
    dns["db.internal.test"] = [SECRET_ADDRESS]
    server = make_server(alice, protocol=protocol, host="db.internal.test", port=5432, timeout=2)
    outcome = probe_once(server)
    assert outcome.status == PingStatus.ERROR
    assert outcome.error_message.startswith("refused: db.internal.test resolves to a private or reserved address")
    assert SECRET_ADDRESS not in outcome.error_message


@pytest.mark.django_db
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_check_ssl_and_certificate_checks_do_not_say_what_a_name_resolves_to(alice, alice_client, dns):
    dns["vault.internal.test"] = [SECRET_ADDRESS]
    r = alice_client.get("/api/check-ssl/", {"url": "https://vault.internal.test"})
    assert r.status_code == 400
    [message] = r.json()["url"]
    assert "refused" in message and SECRET_ADDRESS not in message
    outcome = certificates.probe_certificate(make_server(alice, host="vault.internal.test"))
    assert "refused" in outcome.error and SECRET_ADDRESS not in outcome.error
    assert not CertificateCheck.objects.exists()


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_webhook_to_an_internal_name_does_not_say_what_it_resolves_to(dns):
    dns["hooks.internal.test"] = [SECRET_ADDRESS]
    with pytest.raises(PermanentError) as caught:
        post("http://hooks.internal.test/hook", json={})
    assert str(caught.value).startswith("refused: hooks.internal.test resolves to")
    assert SECRET_ADDRESS not in str(caught.value)


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_refused_literal_names_itself():
    with pytest.raises(net.PrivateAddressError, match=r"^refused: 10\.0\.0\.1 is a private or reserved address"):
        net.vet("10.0.0.1", [(socket.AF_INET, "10.0.0.1")])


# --- The one redirect rule (aionet follows it; net's client follows no redirect).


def hop(status: int, location: str | None, *, method: str = "GET", hops: int = 0, cap: int = 10, **kw: Any):
    return net.next_hop(
        status,
        location,
        current=kw.get("current", "https://a.example/x/y"),
        first=kw.get("first", "https://a.example/x/y"),
        method=method,
        hops=hops,
        cap=cap,
    )


def test_a_final_answer_has_no_next_hop():
    assert hop(200, None) is None
    assert hop(302, None) is None  # a redirect without a Location is the answer
    assert hop(304, "/z") is None  # not a redirect
    assert hop(301, "/z", cap=0) is None  # max_redirects 0: the 3xx itself is judged


def test_the_next_hop_resolves_a_relative_location():
    assert hop(302, "z").url == "https://a.example/x/z"
    assert hop(302, "/z?q=1").url == "https://a.example/z?q=1"
    assert hop(302, "//b.example/w").url == "https://b.example/w"


@pytest.mark.parametrize(
    ("status", "method", "follows_with", "keeps_body"),
    [
        (301, "POST", "GET", False),
        (302, "PUT", "GET", False),
        (303, "POST", "GET", False),
        (307, "POST", "POST", True),
        (308, "PUT", "PUT", True),
        (301, "HEAD", "HEAD", False),
        (303, "HEAD", "HEAD", False),
    ],
)
def test_the_method_and_the_body_go_on_only_with_307_and_308(status, method, follows_with, keeps_body):
    nxt = hop(status, "/z", method=method)
    assert (nxt.method, nxt.keeps_body) == (follows_with, keeps_body)


def test_more_hops_than_the_cap_are_an_error():
    assert hop(302, "/z", hops=1, cap=2) is not None
    with pytest.raises(net.TooManyRedirects, match="more than 2 redirects"):
        hop(302, "/z", hops=2, cap=2)


@pytest.mark.parametrize(
    ("target", "same"),
    [
        ("https://a.example/other", True),
        ("https://a.example:443/other", True),
        ("https://A.example/other", True),
        ("http://a.example/other", False),
        ("https://a.example:8443/other", False),
        ("https://b.example/other", False),
        ("https://a.example.evil.test/", False),
    ],
)
def test_credentials_go_only_to_the_origin_they_were_set_for(target, same):
    assert hop(302, target).sends_credentials is same


@pytest.mark.django_db
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=True)
def test_a_check_sends_basic_auth_to_its_own_origin_only(alice, http_target, dns):
    dns["other-origin.test"] = ["127.0.0.1"]
    http_target.set("/a", 302, "", Location="/b")
    http_target.set("/b", 302, "", Location=f"http://other-origin.test:{http_target.port}/c")
    http_target.set("/c", 200, "ok")
    server = make_server(
        alice,
        protocol="http",
        host="127.0.0.1",
        port=http_target.port,
        path="/a",
        timeout=3,
        basic_auth_username="mon",
        basic_auth_password="pw",
    )
    assert probe_once(server).status == PingStatus.SUCCESS
    sent = {r.path: r.headers.get("Authorization") for r in http_target.requests}
    assert sent == {"/a": "Basic " + base64.b64encode(b"mon:pw").decode(), "/b": sent["/a"], "/c": None}


def test_the_synchronous_client_answers_a_redirect_as_it_is(http_target):
    """Its callers (notifiers) judge a 3xx themselves: a webhook that moved is told to use the new URL."""
    http_target.set("/old", 302, "", Location="/new")
    http_target.set("/new", 200, "new")
    response = net.http_request("POST", http_target.url("/old"), timeout=3, json={"a": 1})
    assert response.status_code == 302
    assert [r.path for r in http_target.requests] == ["/old"]


# --- The one reason of an error chain.


def test_the_reason_is_the_innermost_message():
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as inner:
            raise RuntimeError(
                "Cannot connect to host x:80 ssl:default [Connect call failed ('10.1.1.1', 80)]"
            ) from inner
    except RuntimeError as exc:
        assert net.reason(exc) == "Connection refused"


def test_the_reason_of_an_errno_without_its_text_is_the_errors_name():
    assert net.reason(OSError(111, "Connect call failed ('10.1.1.1', 80)")) == "Connection refused"


def test_the_reason_of_a_name_that_does_not_resolve_is_the_resolvers_words():
    exc = socket.gaierror(socket.EAI_NONAME, "Name or service not known")  # errno -2
    assert net.reason(exc) == "Name or service not known"


def test_the_reason_of_a_tls_error_is_openssls_words_not_an_errno():
    exc = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    assert net.reason(exc) == "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)"  # not errno 1, EPERM


def test_the_reason_of_a_certificate_error_is_openssls_words():
    exc = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    exc.verify_message = "self-signed certificate"
    assert net.reason(exc) == "certificate verify failed: self-signed certificate"


def test_the_reason_is_capped_and_names_a_silent_error():
    assert net.reason(ValueError("x" * 1000)) == "x" * 400
    assert net.reason(TimeoutError()) == "TimeoutError"


def test_a_notifier_says_the_same_reason_as_a_check(tcp_closed_port):
    with override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=True), pytest.raises(Exception) as caught:
        post(f"http://127.0.0.1:{tcp_closed_port}/hook", json={})
    assert str(caught.value) == "connection failed: Connection refused"


class DripReceiver:
    """Accepts a request and answers one byte of its status line every ``every`` seconds, for
    ``lasting`` seconds: each read of the client gets something, so no per-read timeout fires."""

    def __init__(self, every: float = 0.3, lasting: float = 20.0) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.every, self.lasting = every, lasting
        self.cut_off = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        conn.recv(65536)
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        started = time.monotonic()
        try:
            for i in range(10**6):
                if time.monotonic() - started > self.lasting:
                    conn.sendall(answer[i % len(answer) :])  # the rest: a complete answer, late
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\n"[i : i + 1] or b"X-Slow: y\r\n")
                time.sleep(self.every)
        except OSError:
            self.cut_off.set()  # the client shut the connection
        finally:
            conn.close()
            self.sock.close()


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_calls_deadline():
    drip = DripReceiver()
    with pytest.raises(requests.Timeout, match="no complete answer within 2s"):
        net.http_request("POST", f"http://127.0.0.1:{drip.port}/hook", timeout=1, data=b"{}")
    assert drip.cut_off.wait(10)  # the connection was shut, not left to the receiver


def test_a_prompt_answer_is_not_affected_by_the_deadline(http_target):
    http_target.set("/hook", 200, "ok")
    response = net.http_request("POST", http_target.url("/hook"), timeout=1, data=b"{}")
    assert (response.status_code, response.body) == (200, "ok")
    assert http_target.requests[-1].headers["Connection"] == "close"
