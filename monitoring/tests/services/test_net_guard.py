"""The private-address guard: embedded IPv4 forms, webhook URLs at creation, and DNS rebinding."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from monitoring.services import net
from monitoring.tests.alerting import make_server
from tests.targets import LocalHTTPServer, LocalHTTPSServer, self_signed_cert

REBIND = "rebind.test"


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "::127.0.0.1",  # IPv4-compatible
        "::10.0.0.1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "::1",
        "::",
    ],
)
def test_ipv6_forms_of_private_ipv4_addresses_are_private(address):
    assert net.is_private(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2606:4700::1111", "8.8.8.8"]
)
def test_public_addresses_in_those_forms_stay_public(address):
    assert not net.is_private(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", ["64:ff9b::7f00:1", "2002:7f00:1::1", "::127.0.0.1"])
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_server_host_embedding_a_private_ipv4_is_refused_at_creation(alice_client, host):
    body = {"name": "x", "protocol": "https", "host": host, "check_interval": 60, "timeout": 10}
    response = alice_client.post("/api/servers/", body, format="json")
    assert response.status_code == 400
    assert "MONITOR_ALLOW_PRIVATE_TARGETS" in response.json()["host"][0]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "https://[::1]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "http://localhost:8080/hook",  # a name that resolves to loopback
    ],
)
@pytest.mark.parametrize("kind", ["webhook", "slack"])
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_webhook_url_aimed_at_a_private_address_is_refused_at_creation(alice, alice_client, url, kind):
    server = make_server(alice)
    response = alice_client.post(
        "/api/notification-configs/",
        {"server": server.pk, "notification_type": kind, "recipient": url},
        format="json",
    )
    assert response.status_code == 400, response.json()
    [message] = response.json()["recipient"]
    host = (
        url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0] if "[" not in url else url.split("[")[1].split("]")[0]
    )
    # The same words a server host gets.
    assert message == (
        f"{host} is a private or reserved address; this installation does not monitor those "
        "(MONITOR_ALLOW_PRIVATE_TARGETS=false)."
    )
    assert not server.notification_configs.exists()


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_public_webhook_url_is_still_accepted(alice, alice_client):
    server = make_server(alice)
    for url in ("https://93.184.216.34/hook", "https://hooks.example.com/hook"):  # the name does not resolve here
        response = alice_client.post(
            "/api/notification-configs/",
            {"server": server.pk, "notification_type": "webhook", "recipient": url},
            format="json",
        )
        assert response.status_code == 201, response.json()


@pytest.fixture
def rebinding_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """``rebind.test`` answers 127.0.0.1 to its first lookup and 127.0.0.2 to every later one.

    127.0.0.1 plays a public address the guard approves, 127.0.0.2 the private one (a cloud
    metadata service) a rebinding DNS server swaps in after the guard looked.
    """
    real = socket.getaddrinfo
    state: dict[str, Any] = {"lookups": 0}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == REBIND:
            state["lookups"] += 1
            host = "127.0.0.1" if state["lookups"] == 1 else "127.0.0.2"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(net, "is_private", lambda ip: str(ip) == "127.0.0.2")
    yield state


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_http_connects_to_the_address_the_guard_approved_not_a_second_lookup(rebinding_dns):
    with LocalHTTPServer("127.0.0.1") as approved:
        approved.set("/hook", 200, "approved")
        # A second lookup would dial 127.0.0.2, where nothing listens on this port.
        response = net.http_request("POST", f"http://{REBIND}:{approved.port}/hook", timeout=10, json={"a": 1})
        assert (response.status_code, response.body) == (200, "approved")
        assert [r.headers["Host"] for r in approved.requests] == [f"{REBIND}:{approved.port}"]
    assert rebinding_dns["lookups"] == 1, "the name is resolved once, by the guard"


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_https_keeps_the_name_for_sni_and_the_certificate_check(rebinding_dns, tmp_path):
    cert, key = self_signed_cert(str(tmp_path), hostname=REBIND)
    with LocalHTTPSServer(cert, key, "127.0.0.1") as approved:
        approved.set("/", 200, "secure")
        seen: list[str | None] = []
        approved.httpd.socket.context.sni_callback = lambda sock, name, ctx: seen.append(name)
        response = net.http_request("GET", f"https://{REBIND}:{approved.port}/", timeout=10, verify=cert)  # type: ignore[arg-type]
        assert response.body == "secure"
        assert seen == [REBIND]
        assert approved.requests[0].headers["Host"] == f"{REBIND}:{approved.port}"
    assert rebinding_dns["lookups"] == 1


def test_a_connection_to_a_host_nobody_vetted_is_refused():
    adapter = net.PinnedAdapter()
    pool = adapter.poolmanager.connection_from_url("http://unvetted.test/")
    with pytest.raises(Exception, match="not vetted"):
        pool._new_conn()._new_conn()
