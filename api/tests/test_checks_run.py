"""POST /api/checks/run/: staff only, synchronous, answers a summary."""

from __future__ import annotations

import pytest
from django.test import override_settings

from monitoring.models import PingResult
from monitoring.tests.factories import make_server

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("inline_checks")]


@pytest.fixture
def inline_checks():
    # The test transaction is invisible to worker threads; check in the request thread.
    with override_settings(CHECK_CONCURRENCY=1):
        yield


def test_only_staff_may_run_a_pass(alice_client, anon_client):
    assert alice_client.post("/api/checks/run/", {}, format="json").status_code == 403
    assert anon_client.post("/api/checks/run/", {}, format="json").status_code == 401


def test_it_checks_every_active_server_and_summarises(alice, charlie, bob_client, http_target, tcp_closed_port):
    http_target.set("/", 200)
    up = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port)
    down = make_server(charlie, protocol="tcp", host="127.0.0.1", port=tcp_closed_port)
    paused = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port, is_active=False)
    r = bob_client.post("/api/checks/run/", {}, format="json")
    assert r.status_code == 200
    assert r.json() == {"checked": 2, "up": 1, "down": 1, "degraded": 0}
    assert set(PingResult.objects.values_list("server_id", flat=True)) == {up.pk, down.pk}
    assert not PingResult.objects.filter(server=paused).exists()


def test_it_checks_only_the_given_ids(alice, bob_client, http_target):
    http_target.set("/", 200)
    a = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port)
    make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port)
    r = bob_client.post("/api/checks/run/", {"server_ids": [a.pk]}, format="json")
    assert r.json()["checked"] == 1
    assert list(PingResult.objects.values_list("server_id", flat=True)) == [a.pk]


@pytest.mark.parametrize(
    "payload", [{"server_ids": "all"}, {"server_ids": ["x"]}, {"server_ids": [999999]}, {"server_ids": [-1]}]
)
def test_bad_server_ids_are_a_400(bob_client, payload):
    r = bob_client.post("/api/checks/run/", payload, format="json")
    assert r.status_code == 400 and "server_ids" in r.json()
