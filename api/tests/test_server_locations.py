"""A server's ``locations`` and ``quorum`` on the API (SPEC §20)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from authentication.models import Team
from monitoring.models import ProbeLocation, Server, ServerLocation
from monitoring.tests.factories import make_server

TCP = {"name": "db", "protocol": "tcp", "host": "db.example.com", "port": 5432}


@pytest.fixture
def places(alice: Any) -> list[ProbeLocation]:
    team = alice.personal_team
    return [
        ProbeLocation.objects.create(name="Paris", slug="paris", team=team),
        ProbeLocation.objects.create(name="Tokyo", slug="tokyo", team=None),
    ]


def rows(server: Server) -> list[tuple[str, int]]:
    return list(
        ServerLocation.objects.filter(server=server).order_by("position").values_list("location__slug", "position")
    )


def test_a_new_server_is_checked_from_the_local_location_with_no_rows(alice_client):
    r = alice_client.post("/api/servers/", TCP, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["locations"] == ["local"] and r.json()["quorum"] is None
    assert rows(Server.objects.get(pk=r.json()["id"])) == []


def test_locations_are_kept_in_order_with_a_quorum(alice_client, places):
    r = alice_client.post(
        "/api/servers/", {**TCP, "locations": ["tokyo", "local", "paris"], "quorum": 2}, format="json"
    )
    assert r.status_code == 201, r.json()
    server = Server.objects.get(pk=r.json()["id"])
    assert r.json()["locations"] == ["tokyo", "local", "paris"] and r.json()["quorum"] == 2
    assert rows(server) == [("tokyo", 0), ("local", 1), ("paris", 2)]
    assert server.quorum == 2
    assert alice_client.get(f"/api/servers/{server.pk}/").json()["locations"] == ["tokyo", "local", "paris"]


def test_writing_locations_replaces_the_rows_and_new_ones_are_due_at_once(alice, alice_client, places):
    server = make_server(owner=alice)
    later = timezone.now() + timezone.timedelta(hours=1)
    ServerLocation.objects.create(server=server, location=places[0], position=0, next_check_at=later, status="down")
    ServerLocation.objects.create(server=server, location=places[1], position=1, next_check_at=later)
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"locations": ["local", "paris"]}, format="json")
    assert r.status_code == 200, r.json()
    assert rows(server) == [("local", 0), ("paris", 1)]
    kept = ServerLocation.objects.get(server=server, location=places[0])
    assert kept.status == "down"  # its state stays (a reschedule makes every location due now)
    assert ServerLocation.objects.get(server=server, location__slug="local").next_check_at <= timezone.now()
    server.refresh_from_db()
    assert server.next_check_at <= timezone.now()  # rescheduled
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"locations": ["local"]}, format="json")
    assert r.status_code == 200 and r.json()["locations"] == ["local"]
    assert rows(server) == []


def test_a_location_of_another_team_or_unknown_is_a_400_naming_it(alice, alice_client, charlie):
    other = Team.objects.get(personal_for=charlie)
    ProbeLocation.objects.create(name="Secret", slug="secret", team=other)
    for slug in ("secret", "nowhere"):
        r = alice_client.post("/api/servers/", {**TCP, "locations": ["local", slug]}, format="json")
        assert r.status_code == 400
        assert slug in r.json()["locations"][0]
    assert not Server.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"locations": []},
        {"locations": ["local", "local"]},
        {"locations": "local"},
        {"locations": [None]},
        {"locations": ["no spaces"]},
        {"quorum": 0},
        {"quorum": 2},
        {"locations": ["local", "paris"], "quorum": 3},
        {"quorum": "x"},
    ],
)
def test_bad_locations_or_quorum_are_field_errors(alice_client, places, body):
    r = alice_client.post("/api/servers/", {**TCP, **body}, format="json")
    assert r.status_code == 400, r.json()
    assert set(r.json()) <= {"locations", "quorum"}


def test_quorum_is_checked_against_the_locations_it_keeps(alice, alice_client, places):
    server = make_server(owner=alice)
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"locations": ["local", "paris", "tokyo"]}, format="json")
    assert r.status_code == 200
    assert alice_client.patch(f"/api/servers/{server.pk}/", {"quorum": 3}, format="json").status_code == 200
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"locations": ["local"]}, format="json")
    assert r.status_code == 400 and "quorum" in r.json()
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"locations": ["local"], "quorum": None}, format="json")
    assert r.status_code == 200 and r.json()["quorum"] is None


def test_a_listed_server_costs_no_query_per_server_for_its_locations(
    alice, alice_client, places, django_assert_max_num_queries
):
    for n in range(5):
        s = make_server(owner=alice, name=f"s{n}")
        ServerLocation.objects.create(server=s, location=places[0], position=0)
    alice_client.get("/api/servers/")
    with django_assert_max_num_queries(12):
        r = alice_client.get("/api/servers/")
    assert [s["locations"] for s in r.json()["results"]] == [["paris"]] * 5


def test_export_carries_locations_and_quorum_and_import_writes_them(alice, alice_client, places):
    r = alice_client.post("/api/servers/", {**TCP, "locations": ["tokyo", "paris"], "quorum": 1}, format="json")
    assert r.status_code == 201
    doc = alice_client.get("/api/config/export/").json()
    [item] = doc["servers"]
    assert item["locations"] == ["tokyo", "paris"] and item["quorum"] == 1
    again = alice_client.post("/api/config/import/", doc, format="json")
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 1}
    item["locations"] = ["paris", "local", "tokyo"]
    item["quorum"] = None
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 200 and r.json()["updated"] == 1, r.json()
    server = Server.objects.get()
    assert rows(server) == [("paris", 0), ("local", 1), ("tokyo", 2)] and server.quorum is None


def test_a_document_without_locations_still_imports_and_an_unknown_slug_is_an_item_error(alice_client, places):
    r = alice_client.post("/api/config/import/", {"version": 1, "servers": [TCP]}, format="json")
    assert r.status_code == 200, r.json()
    assert rows(Server.objects.get()) == []
    doc = {"version": 1, "servers": [{**TCP, "name": "x", "locations": ["mars"]}]}
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 400
    assert "mars" in str(r.json()["servers"][0]["errors"]["locations"])
    assert Server.objects.count() == 1
