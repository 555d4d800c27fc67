"""The servers API: CRUD, isolation, validation, filters, and the check/pause/resume actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.choices import PingStatus, Status
from monitoring.models import PingResult, Server, StatusChange
from monitoring.tests.factories import make_server
from tests.crud import CrudCases

pytestmark = pytest.mark.django_db

VALID = {"name": "Shop", "protocol": "https", "host": "shop.example.com", "check_interval": 60, "timeout": 5}


class TestServerCrud(CrudCases):
    url = "/api/servers/"
    model = Server
    update_payload = {"name": "Renamed", "check_interval": 120}

    def make(self, owner):
        return make_server(owner)

    def create_payload(self, owner):
        return dict(VALID, tags=["prod", "eu"])


def test_a_created_server_is_unknown_and_owned_by_the_caller(alice, alice_client):
    r = alice_client.post("/api/servers/", VALID, format="json")
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "unknown" and body["owner"] == "alice" and body["url"] == "https://shop.example.com:443/"
    server = Server.objects.get(pk=body["id"])
    assert server.owner == alice and server.server_status.status == Status.UNKNOWN


def test_owner_and_status_in_the_payload_are_ignored(alice, charlie, alice_client):
    r = alice_client.post("/api/servers/", dict(VALID, owner=charlie.pk, status="up"), format="json")
    server = Server.objects.get(pk=r.json()["id"])
    assert server.owner == alice and server.status == Status.UNKNOWN


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"host": "http://example.com/x"}, "host"),
        ({"host": "bad host"}, "host"),
        ({"host": ""}, "host"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": 99999999999999999999}, "port"),
        ({"check_interval": 5}, "check_interval"),
        ({"check_interval": 86401}, "check_interval"),
        ({"timeout": 60, "check_interval": 30}, "timeout"),
        ({"protocol": "ftp"}, "protocol"),
        ({"expected_status_codes": "200-abc"}, "expected_status_codes"),
        ({"expected_status_codes": "299-200"}, "expected_status_codes"),
        ({"expected_status_codes": "700"}, "expected_status_codes"),
        ({"name": "nul\x00byte"}, "name"),
        ({"tags": "prod"}, "tags"),
        ({"tags": ["has space"]}, "tags"),
        ({"protocol": "tcp"}, "port"),
        ({"retries": -1}, "retries"),
        ({"method": "BREW"}, "method"),
    ],
)
def test_bad_input_is_a_400_with_field_errors_and_nothing_is_saved(alice_client, change, field):
    r = alice_client.post("/api/servers/", dict(VALID, **change), format="json")
    assert r.status_code == 400, r.content
    assert field in r.json()
    assert Server.objects.count() == 0


def test_ipv6_and_ip_hosts_are_accepted(alice_client):
    for host in ("::1", "127.0.0.1", "[2001:db8::1]"):
        r = alice_client.post("/api/servers/", dict(VALID, host=host), format="json")
        assert r.status_code == 201, (host, r.content)


def test_a_bad_update_keeps_the_old_values(alice, alice_client):
    server = make_server(alice, check_interval=60)
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"check_interval": 1}, format="json")
    assert r.status_code == 400
    server.refresh_from_db()
    assert server.check_interval == 60


def test_patching_is_active_false_pauses_through_the_engine(alice, alice_client):
    server = make_server(alice)
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"is_active": False}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "paused"
    assert StatusChange.objects.filter(server=server, status=Status.PAUSED).exists()


def test_filters_by_status_protocol_tag_and_search(alice, alice_client):
    a = make_server(alice, name="api-eu", tags=["prod", "eu"], protocol="https")
    b = make_server(alice, name="db", host="db.internal.example", tags=["prod"], protocol="tcp", port=5432)
    c = make_server(alice, name="staging", tags=["production-like"])
    Server.objects.filter(pk=b.pk).update(status=Status.DOWN)

    def ids(query):
        r = alice_client.get(f"/api/servers/?{query}")
        assert r.status_code == 200, r.content
        return {row["id"] for row in r.json()["results"]}

    assert ids("tag=prod") == {a.pk, b.pk}
    assert ids("tag=eu") == {a.pk}
    assert ids("status=down") == {b.pk}
    assert ids("protocol=tcp") == {b.pk}
    assert ids("search=INTERNAL") == {b.pk}
    assert ids("search=stag") == {c.pk}
    names = [row["name"] for row in alice_client.get("/api/servers/?ordering=-name").json()["results"]]
    assert names == ["staging", "db", "api-eu"]


def test_servers_are_found_by_a_list_of_ids(alice, charlie, alice_client):
    # The web's server picker names the chosen servers of a window or page in one request.
    a, b, _ = (make_server(alice, name=n) for n in ("a", "b", "c"))
    theirs = make_server(charlie, name="theirs")
    r = alice_client.get(f"/api/servers/?id={a.pk},{b.pk},{theirs.pk}")
    assert r.status_code == 200 and {row["name"] for row in r.json()["results"]} == {"a", "b"}
    assert alice_client.get("/api/servers/?id=1,x").status_code == 400


def test_a_bad_filter_value_is_a_400(alice_client):
    assert alice_client.get("/api/servers/?status=sideways").status_code == 400


def test_the_list_does_not_query_per_server(alice, alice_client):
    for n in range(3):
        make_server(alice, name=f"s{n}")
    with CaptureQueriesContext(connection) as few:
        alice_client.get("/api/servers/")
    for n in range(3, 13):
        make_server(alice, name=f"s{n}")
    with CaptureQueriesContext(connection) as many:
        assert len(alice_client.get("/api/servers/").json()["results"]) == 13
    assert len(many) == len(few)


def test_check_now_runs_a_check_and_answers_the_ping(alice, alice_client, http_target):
    http_target.set("/health", 200, "ok")
    server = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port, path="/health")
    r = alice_client.post(f"/api/servers/{server.pk}/check/")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == PingStatus.SUCCESS and r.json()["status_code"] == 200
    assert PingResult.objects.get(pk=r.json()["id"]).server == server
    assert Server.objects.get(pk=server.pk).status == Status.UP


def test_check_now_of_another_users_server_is_404_and_runs_nothing(alice, charlie_client, http_target):
    server = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port)
    assert charlie_client.post(f"/api/servers/{server.pk}/check/").status_code == 404
    assert http_target.requests == [] and not PingResult.objects.exists()


def test_pause_and_resume(alice, alice_client, charlie_client):
    server = make_server(alice)
    assert charlie_client.post(f"/api/servers/{server.pk}/pause/").status_code == 404
    r = alice_client.post(f"/api/servers/{server.pk}/pause/")
    assert r.status_code == 200 and r.json()["status"] == "paused" and r.json()["is_active"] is False
    assert Server.objects.get(pk=server.pk).server_status.status == Status.PAUSED
    r = alice_client.post(f"/api/servers/{server.pk}/resume/")
    assert r.json()["status"] == "unknown" and r.json()["is_active"] is True


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fd00::1"])
@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_private_ip_hosts_are_refused_when_private_targets_are_off(alice_client, host):
    r = alice_client.post("/api/servers/", dict(VALID, host=host), format="json")
    assert r.status_code == 400 and "MONITOR_ALLOW_PRIVATE_TARGETS" in r.json()["host"][0]
    assert alice_client.post("/api/servers/", dict(VALID, host="93.184.216.34"), format="json").status_code == 201


def test_an_edit_from_60_to_15_seconds_is_checked_at_once_then_every_15(alice, alice_client):
    """Issue 14 C.10: the edit waited for the old due time (51 s)."""
    server = make_server(alice, check_interval=60)
    Server.objects.filter(pk=server.pk).update(next_check_at=timezone.now() + timedelta(seconds=51))
    before = timezone.now()
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"check_interval": 15, "timeout": 5}, format="json")
    assert r.status_code == 200, r.content
    row = Server.objects.get(pk=server.pk)
    assert before <= row.next_check_at <= timezone.now()
    assert row.next_due(row.next_check_at, row.next_check_at) == row.next_check_at + timedelta(seconds=15)


def test_a_resume_through_is_active_is_due_at_once_and_a_rename_moves_nothing(alice, alice_client):
    server = make_server(alice)
    alice_client.post(f"/api/servers/{server.pk}/pause/")
    later = timezone.now() + timedelta(minutes=5)
    Server.objects.filter(pk=server.pk).update(next_check_at=later)
    assert alice_client.patch(f"/api/servers/{server.pk}/", {"name": "renamed"}, format="json").status_code == 200
    assert Server.objects.get(pk=server.pk).next_check_at == later
    before = timezone.now()
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"is_active": True}, format="json")
    assert r.json()["status"] == "unknown"
    assert before <= Server.objects.get(pk=server.pk).next_check_at <= timezone.now()


@override_settings(CHECK_NOW_PER_USER=1)
def test_check_now_beyond_the_users_limit_answers_429_and_probes_nothing(alice, alice_client, http_target):
    """Issue 14 D.21: check-nows of one user running at once are bounded (SPEC §23)."""
    http_target.set("/", 200, "ok")
    server = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port)
    cache.add(f"check-now:{alice.pk}:0", 1)  # one of alice's check-nows is running
    r = alice_client.post(f"/api/servers/{server.pk}/check/")
    assert r.status_code == 429 and r.headers["Retry-After"]
    assert http_target.requests == [] and not PingResult.objects.exists()
    cache.delete(f"check-now:{alice.pk}:0")
    assert alice_client.post(f"/api/servers/{server.pk}/check/").status_code == 200
    assert alice_client.post(f"/api/servers/{server.pk}/check/").status_code == 200, "each check gave its slot back"


@pytest.mark.django_db(transaction=True)
@override_settings(CHECK_NOW_PER_USER=2)
def test_concurrent_check_nows_beyond_the_limit_answer_429_at_once(alice, http_target):
    """Five check-nows of one user against a slow target: two run, three answer 429 at once."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from conftest import client_for

    http_target.set("/", 200, "ok", delay=1.5)
    server = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port, timeout=5)

    def check_now(_: int) -> int:
        try:
            return client_for(alice).post(f"/api/servers/{server.pk}/check/").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(5) as pool:
        codes = sorted(pool.map(check_now, range(5)))
    assert codes == [200, 200, 429, 429, 429]
    assert PingResult.objects.filter(server=server).count() == 2
