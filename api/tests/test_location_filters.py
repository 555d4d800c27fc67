"""Results, history, uptime and statuses per location (SPEC §20)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from authentication.models import Team
from monitoring.choices import PingStatus, Status
from monitoring.models import HourlyRollup, PingResult, ProbeLocation, ServerLocation, ServerStatus
from monitoring.tests.factories import make_server


@pytest.fixture
def world(alice: Any) -> dict[str, Any]:
    paris = ProbeLocation.objects.create(name="Paris", slug="paris", team=alice.personal_team)
    local = ProbeLocation.objects.local()
    server = make_server(owner=alice)
    now = timezone.now()
    # Two checks from local (one before locations: no location), three from paris, one failed.
    PingResult.objects.create(
        server=server, status=PingStatus.SUCCESS, response_time=10, check_timestamp=now - timedelta(minutes=3)
    )
    PingResult.objects.create(
        server=server,
        status=PingStatus.SUCCESS,
        response_time=20,
        location=local,
        check_timestamp=now - timedelta(minutes=2),
    )
    for minutes, status in ((3, PingStatus.SUCCESS), (2, PingStatus.FAILURE), (1, PingStatus.SUCCESS)):
        PingResult.objects.create(
            server=server,
            status=status,
            response_time=100,
            location=paris,
            check_timestamp=now - timedelta(minutes=minutes),
        )
    return {"server": server, "paris": paris, "local": local}  # fmt: skip


def test_ping_results_filter_by_location(alice_client, world):
    paris = alice_client.get("/api/ping-results/?location=paris").json()["results"]
    assert len(paris) == 3 and {p["response_time"] for p in paris} == {100.0}
    local = alice_client.get("/api/ping-results/?location=local").json()["results"]
    assert sorted(p["response_time"] for p in local) == [10.0, 20.0]  # rows without a location are local's
    assert len(alice_client.get("/api/ping-results/").json()["results"]) == 5


def test_an_unknown_or_hidden_location_is_a_400_naming_location(alice_client, charlie_client, world):
    for client, slug in ((alice_client, "mars"), (charlie_client, "paris")):
        r = client.get(f"/api/ping-results/?location={slug}")
        assert r.status_code == 400 and "location" in r.json()
    server = world["server"].pk
    for what in ("uptime", "history"):
        r = alice_client.get(f"/api/servers/{server}/{what}/?location=mars")
        assert r.status_code == 400 and "location" in r.json()


def test_uptime_and_history_count_one_locations_checks(alice_client, world):
    server = world["server"].pk
    everywhere = alice_client.get(f"/api/servers/{server}/uptime/").json()
    assert everywhere["checks"] == 5 and everywhere["failures"] == 1
    paris = alice_client.get(f"/api/servers/{server}/uptime/?location=paris").json()
    assert paris["checks"] == 3 and paris["failures"] == 1 and paris["response_time_p50"] == 100.0
    local = alice_client.get(f"/api/servers/{server}/uptime/?location=local").json()
    assert local["checks"] == 2 and local["failures"] == 0
    buckets = alice_client.get(f"/api/servers/{server}/history/?location=paris").json()["buckets"]
    assert sum(b["checks"] for b in buckets) == 3 and sum(b["failures"] for b in buckets) == 1


def test_with_a_location_history_reads_raw_rows_not_the_all_locations_rollups(alice_client, world):
    server = world["server"]
    hour = (timezone.now() - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    HourlyRollup.objects.create(server=server, hour=hour, checks=60, failures=6, updated_at=hour + timedelta(hours=2))
    assert (
        sum(b["checks"] for b in alice_client.get(f"/api/servers/{server.pk}/history/?window=7d").json()["buckets"])
        >= 60
    )
    one = alice_client.get(f"/api/servers/{server.pk}/history/?window=7d&location=paris").json()["buckets"]
    assert sum(b["checks"] for b in one) == 3


def test_server_status_carries_each_locations_state(alice, alice_client, world):
    server = world["server"]
    ServerStatus.objects.filter(server=server).update(status=Status.UP, last_response_time=12.5)
    [state] = alice_client.get("/api/server-status/").json()["results"]
    assert [(s["slug"], s["status"], s["response_time"]) for s in state["locations"]] == [("local", "up", 12.5)]
    now = timezone.now()
    ServerLocation.objects.create(
        server=server, location=world["local"], position=0, status=Status.UP, last_response_time=20, last_check=now
    )
    ServerLocation.objects.create(
        server=server, location=world["paris"], position=1, status=Status.DOWN, last_response_time=None
    )
    other = make_server(owner=alice, name="other")
    ServerLocation.objects.create(server=other, location=world["paris"], position=0)
    results = {s["server"]: s for s in alice_client.get("/api/server-status/").json()["results"]}
    assert [(s["slug"], s["status"], s["response_time"]) for s in results[server.pk]["locations"]] == [
        ("local", "up", 20.0), ("paris", "down", None)
    ]  # fmt: skip
    # One location (not the local one): the server's own state, under that location's slug.
    assert [s["slug"] for s in results[other.pk]["locations"]] == ["paris"]
    assert results[server.pk]["locations"][0]["last_check"] is not None


def test_server_status_locations_cost_no_query_per_server(alice, alice_client, world, django_assert_max_num_queries):
    for n in range(5):
        s = make_server(owner=alice, name=f"s{n}")
        ServerLocation.objects.create(server=s, location=world["paris"], position=0)
        ServerLocation.objects.create(server=s, location=world["local"], position=1)
    alice_client.get("/api/server-status/")
    with django_assert_max_num_queries(5):
        r = alice_client.get("/api/server-status/")
    assert len(r.json()["results"]) == 6


def test_a_team_location_is_not_a_filter_for_another_team(charlie, charlie_client, world):
    Team.objects.get(personal_for=charlie)
    assert charlie_client.get("/api/ping-results/?location=local").status_code == 200


def test_a_location_filter_with_a_nul_is_400(alice_client):
    r = alice_client.get("/api/ping-results/", {"location": "lo\x00cal"})
    assert r.status_code == 400 and "location" in r.json()
