"""The asynchronous probes' network rules (services.aionet): the guard vets the address that is
connected to (no DNS rebinding), the name stays for Host and SNI, CERT_CA_BUNDLE verifies HTTPS."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.test import override_settings

from monitoring.choices import PingStatus
from monitoring.services import net
from monitoring.tests.factories import make_server, probe_once
from tests.targets import LocalHTTPSServer, self_signed_cert

REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def dns() -> Iterator[dict[str, list[str]]]:
    """A stub resolver: ``dns[name]`` is the list of answers, one per lookup (the last repeats)."""
    answers: dict[str, list[str]] = {}
    lookups: dict[str, int] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        n = lookups.get(host, 0)
        lookups[host] = n + 1
        address = answers[host][min(n, len(answers[host]) - 1)]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]

    with mock.patch("socket.getaddrinfo", side_effect=getaddrinfo):
        answers["_lookups"] = lookups  # type: ignore[assignment]
        yield answers


@pytest.mark.django_db
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_name_that_rebinds_to_loopback_after_vetting_never_reaches_loopback(alice, http_target, dns):
    """Vetting sees 127.0.0.2 (treated as public here); any later lookup would say 127.0.0.1,
    where the target listens. Only the vetted address may be connected to."""
    http_target.set("/", 200, "secret")
    dns["rebind.test"] = ["127.0.0.2", "127.0.0.1"]
    real_is_private = net.is_private
    server = make_server(alice, protocol="http", host="rebind.test", port=http_target.port, timeout=10)
    with mock.patch.object(net, "is_private", side_effect=lambda ip: str(ip) != "127.0.0.2" and real_is_private(ip)):
        outcome = probe_once(server)
    assert http_target.requests == [], "nothing reached the loopback target"
    assert outcome.status == PingStatus.ERROR and "refused" in outcome.error_message.lower()
    assert dns["_lookups"]["rebind.test"] == 1, "the name was resolved once, and that answer was used"


@pytest.mark.django_db
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_name_that_resolves_to_loopback_is_refused_before_connecting(alice, http_target, dns):
    http_target.set("/", 200)
    dns["inside.test"] = ["127.0.0.1"]
    server = make_server(alice, protocol="http", host="inside.test", port=http_target.port, timeout=10)
    outcome = probe_once(server)
    assert outcome.status == PingStatus.ERROR and "MONITOR_ALLOW_PRIVATE_TARGETS" in outcome.error_message
    assert http_target.requests == []


@pytest.mark.django_db
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_redirect_to_a_private_address_is_refused(alice, http_target, dns):
    """The first hop (127.0.0.1, treated as public here) redirects to the literal 127.0.0.5."""
    http_target.set("/", 302, "", Location="http://127.0.0.5:9/inside")
    dns["public.test"] = ["127.0.0.1"]
    real_is_private = net.is_private
    server = make_server(alice, protocol="http", host="public.test", port=http_target.port, timeout=10)
    with mock.patch.object(net, "is_private", side_effect=lambda ip: str(ip) != "127.0.0.1" and real_is_private(ip)):
        outcome = probe_once(server)
    assert [r.path for r in http_target.requests] == ["/"]
    assert outcome.status == PingStatus.ERROR and "127.0.0.5" in outcome.error_message
    assert "MONITOR_ALLOW_PRIVATE_TARGETS" in outcome.error_message


@pytest.mark.django_db
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=True)
def test_the_name_is_kept_for_the_host_header(alice, http_target, dns):
    http_target.set("/", 200, "ok")
    dns["named.test"] = ["127.0.0.1"]
    server = make_server(alice, protocol="http", host="named.test", port=http_target.port, timeout=10)
    assert probe_once(server).status == PingStatus.SUCCESS
    assert http_target.requests[-1].headers["Host"] == f"named.test:{http_target.port}"


@pytest.mark.django_db
def test_https_checks_verify_against_cert_ca_bundle_with_the_name_for_sni(alice, tmp_path, dns):
    cert, key = self_signed_cert(str(tmp_path), hostname="private-ca.test")
    dns["private-ca.test"] = ["127.0.0.1"]
    with LocalHTTPSServer(cert, key) as target:
        target.set("/", 200, "ok")
        server = make_server(alice, protocol="https", host="private-ca.test", port=target.port, timeout=10)
        with override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=True, CERT_CA_BUNDLE=""):
            untrusted = probe_once(server)
        with override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=True, CERT_CA_BUNDLE=cert):
            trusted = probe_once(server)
    assert untrusted.status == PingStatus.ERROR and "TLS error" in untrusted.error_message
    assert trusted.status == PingStatus.SUCCESS, trusted.error_message
