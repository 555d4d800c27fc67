"""HTTP requests and assertions end to end (SPEC §10): the API's rules for the new fields,
then real checks against targets on 127.0.0.1 (headers, body and auth sent, keyword_absent,
max_redirects, each assertion source, the private-address guard)."""

from __future__ import annotations

import base64
import json
from unittest import mock

import pytest
from django.test import override_settings

from monitoring.choices import PingStatus, Protocol, Status
from monitoring.models import Server
from monitoring.services import net
from monitoring.services.engine import http_check
from monitoring.tasks.engine import run_check

HEALTH_OK = json.dumps({"status": "ok", "data": {"items": [{"state": "up"}]}, "queue": [1, 2, 3]})


def http_server(owner, target, path="/", **fields) -> Server:
    values = {"name": "web", "protocol": Protocol.HTTP, "host": "127.0.0.1", "port": target.port, "path": path}
    values.update({"timeout": 2} | fields)
    return Server.objects.create(owner=owner, **values)


def post_server(client, **fields):
    data = {"name": "api", "protocol": "https", "host": "example.com"} | fields
    return client.post("/api/servers/", data, format="json")


# --- The API.


def test_the_new_fields_round_trip_and_the_password_is_never_shown(alice_client):
    assertions = [{"source": "json:$.status", "op": "==", "value": "ok"}]
    response = post_server(
        alice_client,
        request_headers={"Accept": "application/json", "X-Api-Key": "k1"},
        request_body='{"ping": 1}',
        method="POST",
        basic_auth_username="monitor",
        basic_auth_password="hunter2-secret",
        keyword_absent=True,
        keyword="maintenance",
        max_redirects=0,
        assertions=assertions,
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["request_headers"] == {"Accept": "application/json", "X-Api-Key": "k1"}
    assert body["assertions"] == assertions and body["max_redirects"] == 0 and body["keyword_absent"] is True
    assert body["basic_auth_username"] == "monitor"
    assert "basic_auth_password" not in body and "hunter2-secret" not in response.content.decode()
    server = Server.objects.get(pk=body["id"])
    assert server.basic_auth_password == "hunter2-secret" and server.request_body == '{"ping": 1}'
    for url in ("/api/servers/", f"/api/servers/{server.pk}/"):
        assert "hunter2-secret" not in alice_client.get(url).content.decode()
        # The browsable API's forms are filled from the serializer too: still no password.
        assert "hunter2-secret" not in alice_client.get(url, HTTP_ACCEPT="text/html").content.decode()


def test_defaults_of_the_new_fields(alice_client):
    body = post_server(alice_client).json()
    assert (body["request_headers"], body["request_body"], body["assertions"]) == ({}, "", [])
    assert (body["max_redirects"], body["keyword_absent"], body["basic_auth_username"]) == (10, False, "")


def test_a_bad_assertion_answers_400_naming_the_item(alice_client):
    items = [
        {"source": "status_code", "op": "==", "value": 200},
        {"source": "body", "op": "contains", "value": "ok"},
        {"source": "body", "op": "like", "value": "ok"},
    ]
    response = post_server(alice_client, assertions=items)
    assert response.status_code == 400
    assert response.json() == {"assertions": ["item 2: unknown op 'like'"]}
    assert not Server.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"request_headers": {f"X-{i}": "v" for i in range(51)}}, "request_headers"),
        ({"request_headers": {"X-A": 5}}, "request_headers"),
        ({"request_headers": {"Bad Name": "v"}}, "request_headers"),
        ({"request_headers": {"X-A": "line\r\nInjected: 1"}}, "request_headers"),
        ({"request_headers": ["Accept"]}, "request_headers"),
        ({"request_body": "x" * (64 * 1024 + 1)}, "request_body"),
        ({"request_body": "a\x00b"}, "request_body"),
        ({"max_redirects": 21}, "max_redirects"),
        ({"max_redirects": -1}, "max_redirects"),
        ({"assertions": {"source": "body"}}, "assertions"),
        ({"assertions": [{"source": "status_code", "op": "==", "value": 200}] * 21}, "assertions"),
        ({"cert_expiry_alert_days": [30, "x"]}, "cert_expiry_alert_days"),
        ({"cert_expiry_alert_days": [400]}, "cert_expiry_alert_days"),
    ],
)
def test_bad_values_answer_400_with_the_field(alice_client, fields, field):
    response = post_server(alice_client, **fields)
    assert response.status_code == 400 and field in response.json(), response.json()


def test_a_body_of_exactly_64_kib_and_50_headers_are_accepted(alice_client):
    response = post_server(
        alice_client, request_body="x" * (64 * 1024), request_headers={f"X-{i}": "v" for i in range(50)}
    )
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("request_headers", {"X-A": "1"}),
        ("request_body", "hello"),
        ("basic_auth_username", "u"),
        ("basic_auth_password", "p"),
        ("keyword_absent", True),
        ("max_redirects", 3),
        ("assertions", [{"source": "status_code", "op": "==", "value": 200}]),
    ],
)
def test_http_only_fields_off_their_default_are_refused_on_a_tcp_server(alice_client, field, value):
    response = post_server(alice_client, protocol="tcp", port=22, **{field: value})
    assert response.status_code == 400
    assert "leave it at its default" in response.json()[field][0]


def test_defaults_sent_explicitly_are_fine_on_tcp_and_switching_to_tcp_is_checked(alice_client):
    created = post_server(alice_client, protocol="tcp", port=22, max_redirects=10, request_headers={}, assertions=[])
    assert created.status_code == 201, created.json()
    web = post_server(alice_client, request_headers={"X-A": "1"}).json()
    response = alice_client.patch(f"/api/servers/{web['id']}/", {"protocol": "tcp", "port": 22}, format="json")
    assert response.status_code == 400 and "request_headers" in response.json()
    assert Server.objects.get(pk=web["id"]).protocol == Protocol.HTTPS


def test_the_model_refuses_http_only_fields_on_tcp_too(alice):
    from django.core.exceptions import ValidationError

    server = Server(owner=alice, name="db", protocol=Protocol.TCP, host="example.com", port=5432, keyword_absent=True)
    with pytest.raises(ValidationError) as caught:
        server.full_clean()
    assert "keyword_absent" in caught.value.message_dict
    server.assertions = [{"source": "body", "op": "like"}]
    with pytest.raises(ValidationError) as caught:
        server.full_clean()
    assert "item 0: unknown op 'like'" in caught.value.message_dict["assertions"]


# --- What a check sends.


def test_headers_body_and_basic_auth_are_sent(alice, http_target):
    http_target.set("/hook", 200, "ok")
    server = http_server(
        alice,
        http_target,
        "/hook",
        method="POST",
        request_headers={"X-Api-Key": "k-123", "Content-Type": "application/json", "User-Agent": "custom/1"},
        request_body='{"probe": true}',
        basic_auth_username="monitor",
        basic_auth_password="p@ss:word",
    )
    record = run_check(server)
    assert record.ping.status == PingStatus.SUCCESS, record.ping.error_message
    seen = http_target.requests[-1]
    assert seen.method == "POST" and seen.body == b'{"probe": true}'
    assert seen.headers["X-Api-Key"] == "k-123" and seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == "custom/1"
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"monitor:p@ss:word").decode()


def test_no_auth_header_without_a_username(alice, http_target):
    http_target.set("/", 200, "ok")
    run_check(http_server(alice, http_target))
    assert "Authorization" not in http_target.requests[-1].headers


def test_build_request_gathers_the_options_of_a_server(alice):
    server = Server(
        owner=alice,
        name="x",
        protocol=Protocol.HTTPS,
        host="example.com",
        method="PUT",
        timeout=3,
        verify_tls=False,
        request_headers={"A": "1"},
        request_body="hi",
        basic_auth_username="u",
        basic_auth_password="p",
        max_redirects=2,
    )
    options = http_check.build_request(server)
    assert options == http_check.RequestOptions(
        method="PUT",
        url="https://example.com:443/",
        timeout=3,
        verify_tls=False,
        max_redirects=2,
        headers={"A": "1"},
        body=b"hi",
        basic_auth=("u", "p"),
    )


# --- keyword_absent.


def test_keyword_absent_fails_when_the_keyword_is_there(alice, http_target):
    http_target.set("/", 200, "Down for maintenance")
    server = http_server(alice, http_target, keyword="maintenance", keyword_absent=True)
    record = run_check(server)
    assert record.ping.status == PingStatus.FAILURE
    assert record.ping.error_message == "keyword 'maintenance' found, expected it absent"
    http_target.set("/", 200, "all fine")
    assert run_check(server).ping.status == PingStatus.SUCCESS


# --- Redirects.


def test_redirects_are_followed_up_to_max_redirects(alice, http_target):
    http_target.set("/a", 302, "", Location="/b")
    http_target.set("/b", 301, "", Location="/c")
    http_target.set("/c", 200, "final")
    server = http_server(alice, http_target, "/a", keyword="final", max_redirects=2)
    record = run_check(server)
    assert record.ping.status == PingStatus.SUCCESS and record.ping.status_code == 200
    server.max_redirects = 1
    record = run_check(server)
    assert record.ping.status == PingStatus.ERROR and "more than 1 redirects" in record.ping.error_message


def test_max_redirects_zero_judges_the_3xx_itself(alice, http_target):
    http_target.set("/old", 301, "", Location="/new")
    http_target.set("/new", 200, "new")
    server = http_server(alice, http_target, "/old", max_redirects=0)
    record = run_check(server)
    assert record.ping.status == PingStatus.SUCCESS and record.ping.status_code == 301  # 200-399 expected
    assert [r.path for r in http_target.requests] == ["/old"]
    server.expected_status_codes = "200"
    record = run_check(server)
    assert record.ping.status == PingStatus.FAILURE and record.ping.error_message == "HTTP 301, expected 200"


def test_a_307_keeps_the_method_body_and_headers(alice, http_target):
    http_target.set("/submit", 307, "", Location="/submit2")
    http_target.set("/submit2", 200, "ok")
    server = http_server(
        alice, http_target, "/submit", method="POST", request_body="payload", request_headers={"X-Trace": "t1"}
    )
    assert run_check(server).ping.status == PingStatus.SUCCESS
    hop = http_target.requests[-1]
    assert (hop.path, hop.method, hop.body, hop.headers["X-Trace"]) == ("/submit2", "POST", b"payload", "t1")


def test_a_redirect_to_a_private_address_is_refused_by_the_guard(alice, http_target):
    """The first hop is treated as public; the redirect goes to ::1, which the guard refuses."""
    http_target.set("/", 302, "", Location="http://[::1]:9/")
    server = http_server(alice, http_target)
    real = net.is_private

    def loopback_v4_is_public(ip):
        return False if str(ip) == "127.0.0.1" else real(ip)

    with (
        override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False),
        mock.patch.object(net, "is_private", loopback_v4_is_public),
    ):
        record = run_check(server)
    assert record.ping.status == PingStatus.ERROR
    assert "refused: ::1 is a private or reserved address" in record.ping.error_message
    assert len(http_target.requests) == 1


def test_a_name_that_resolves_to_a_private_address_is_refused_at_check_time(alice, http_target):
    http_target.set("/", 200, "ok")
    server = http_server(alice, http_target, host="localhost")
    with override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False):
        record = run_check(server)
    assert record.ping.status == PingStatus.ERROR
    assert (
        record.ping.error_message.startswith("refused: localhost resolves to")
        and "private or reserved" in record.ping.error_message
    )
    assert http_target.requests == []


# --- Assertions against a real target.


def test_each_assertion_source_against_a_real_answer(alice, http_target):
    http_target.set("/health", 200, HEALTH_OK, Content_Type="application/json", X_Build="1234")
    items = [
        {"source": "status_code", "op": "==", "value": 200},
        {"source": "response_time", "op": "<", "value": 2000},
        {"source": "body", "op": "contains", "value": '"status"'},
        {"source": "header:x-build", "op": ">=", "value": 1000},
        {"source": "header:Content-Type", "op": "matches", "value": "^application/json"},
        {"source": "json:$.status", "op": "==", "value": "ok"},
        {"source": "json:$.data.items[0].state", "op": "==", "value": "up"},
        {"source": "json_len:$.queue", "op": "<=", "value": 3},
    ]
    server = http_server(alice, http_target, "/health", assertions=items)
    record = run_check(server)
    assert record.ping.status == PingStatus.SUCCESS, record.ping.error_message
    assert Server.objects.get(pk=server.pk).status == Status.UP


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"source": "status_code", "op": "==", "value": 201}, "assertion failed: status_code == 201 (got 200)"),
        ({"source": "response_time", "op": "<", "value": 0}, "assertion failed: response_time < 0 (got "),
        ({"source": "body", "op": "not_contains", "value": "ok"}, 'assertion failed: body not_contains "ok" (got "{'),
        ({"source": "header:X-Build", "op": "==", "value": 99}, 'assertion failed: header:X-Build == 99 (got "1234")'),
        ({"source": "header:X-Nope", "op": "exists"}, "assertion failed: header:X-Nope exists (got missing)"),
        (
            {"source": "json:$.data.items[0].state", "op": "!=", "value": "up"},
            'assertion failed: json:$.data.items[0].state != "up" (got "up")',
        ),
        ({"source": "json_len:$.queue", "op": ">", "value": 10}, "assertion failed: json_len:$.queue > 10 (got 3)"),
    ],
)
def test_a_failed_assertion_is_a_failure_naming_it_and_what_was_seen(alice, http_target, item, message):
    http_target.set("/health", 200, HEALTH_OK, X_Build="1234")
    record = run_check(http_server(alice, http_target, "/health", assertions=[item]))
    assert record.ping.status == PingStatus.FAILURE
    assert record.ping.error_message.startswith(message), record.ping.error_message


def test_a_json_health_endpoint_reporting_degraded_fails_its_assertion(alice, http_target, alice_client):
    """Done-when: a JSON health endpoint reporting "status": "degraded" fails with a message saying so."""
    http_target.set("/health", 200, json.dumps({"status": "degraded", "db": "slow"}))
    created = alice_client.post(
        "/api/servers/",
        {
            "name": "api health",
            "protocol": "http",
            "host": "127.0.0.1",
            "port": http_target.port,
            "path": "/health",
            "timeout": 2,
            "assertions": [{"source": "json:$.status", "op": "==", "value": "ok"}],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    ping = alice_client.post(f"/api/servers/{created.json()['id']}/check/").json()
    assert ping["status"] == "failure"
    assert ping["error_message"] == 'assertion failed: json:$.status == "ok" (got "degraded")'
    status = alice_client.get(f"/api/servers/{created.json()['id']}/").json()
    assert status["status"] == "down" and "degraded" in status["status_message"]


def test_an_html_answer_fails_a_json_assertion_with_not_json(alice, http_target):
    http_target.set("/", 200, "<html>login</html>", Content_Type="text/html")
    record = run_check(
        http_server(alice, http_target, assertions=[{"source": "json:$.status", "op": "==", "value": "ok"}])
    )
    assert record.ping.status == PingStatus.FAILURE
    assert record.ping.error_message == 'assertion failed: json:$.status == "ok": response is not JSON'


def test_status_codes_and_keyword_are_judged_before_assertions(alice, http_target):
    http_target.set("/", 500, json.dumps({"status": "ok"}))
    record = run_check(
        http_server(alice, http_target, assertions=[{"source": "json:$.status", "op": "==", "value": "ok"}])
    )
    assert record.ping.error_message == "HTTP 500, expected 200-399"
