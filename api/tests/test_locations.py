"""``/api/locations/`` and agent tokens (SPEC §20)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from authentication.models import AuditEntry, Membership, Role, Team
from conftest import client_for
from monitoring.models import AgentToken, PingResult, ProbeLocation, Server, ServerLocation
from monitoring.services.locations.agents import digest
from monitoring.tests.factories import make_server


@pytest.fixture
def ops(alice: Any) -> Team:
    team = Team.objects.create(name="Ops", slug="ops")
    Membership.objects.create(team=team, user=alice, role=Role.OWNER)
    return team


def member(team: Team, user: Any, role: str) -> Any:
    Membership.objects.create(team=team, user=user, role=role)
    return client_for(user)


def test_the_local_location_is_listed_for_everyone_shared_and_online(alice_client):
    r = alice_client.get("/api/locations/")
    assert r.status_code == 200, r.json()
    [local] = r.json()["results"]
    assert local["slug"] == "local" and local["shared"] is True and local["status"] == "online"
    assert local["team"] is None


def test_a_member_creates_a_team_location_with_a_slug_from_its_name(alice, alice_client, ops):
    r = alice_client.post("/api/locations/", {"name": "Frankfurt", "team": "ops"}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["slug"] == "frankfurt" and body["shared"] is False and body["team"] == "ops"
    assert body["status"] == "online" and body["last_seen_at"] is None
    location = ProbeLocation.objects.get(slug="frankfurt")
    assert location.team == ops and location.created_by == alice
    entry = AuditEntry.objects.get(object_type="probelocation")
    assert entry.action == "create" and entry.team_id == ops.pk


def test_without_a_team_a_location_goes_to_the_personal_team(alice, alice_client):
    r = alice_client.post("/api/locations/", {"name": "Home", "slug": "home-lab"}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["team"] == "alice"
    assert ProbeLocation.objects.get(slug="home-lab").team.personal_for == alice


def test_a_viewer_may_not_create_or_change_a_location(ops, charlie):
    viewer = member(ops, charlie, Role.VIEWER)
    r = viewer.post("/api/locations/", {"name": "X", "team": "ops"}, format="json")
    assert r.status_code == 403
    ProbeLocation.objects.create(name="Paris", slug="paris", team=ops)
    assert viewer.get("/api/locations/paris/").status_code == 200
    assert viewer.patch("/api/locations/paris/", {"name": "Y"}, format="json").status_code == 403
    assert viewer.delete("/api/locations/paris/").status_code == 403
    assert ProbeLocation.objects.get(slug="paris").name == "Paris"


def test_another_teams_location_is_hidden(ops, charlie_client):
    ProbeLocation.objects.create(name="Paris", slug="paris", team=ops)
    assert charlie_client.get("/api/locations/paris/").status_code == 404
    assert charlie_client.delete("/api/locations/paris/").status_code == 404
    slugs = [loc["slug"] for loc in charlie_client.get("/api/locations/").json()["results"]]
    assert slugs == ["local"]


def test_only_staff_create_shared_locations(alice_client, bob_client):
    r = alice_client.post("/api/locations/", {"name": "Tokyo", "shared": True}, format="json")
    assert r.status_code == 403
    assert not ProbeLocation.objects.filter(slug="tokyo").exists()
    r = bob_client.post("/api/locations/", {"name": "Tokyo", "shared": True}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["shared"] is True and r.json()["team"] is None
    assert ProbeLocation.objects.get(slug="tokyo").team is None
    # Listed for everyone, changed by staff only.
    assert "tokyo" in [loc["slug"] for loc in alice_client.get("/api/locations/").json()["results"]]
    assert alice_client.patch("/api/locations/tokyo/", {"name": "T"}, format="json").status_code == 403
    assert bob_client.patch("/api/locations/tokyo/", {"name": "Tokio"}, format="json").status_code == 200


def test_the_local_location_is_neither_deleted_nor_renamed(alice_client, bob_client):
    assert alice_client.delete("/api/locations/local/").status_code == 403
    assert alice_client.patch("/api/locations/local/", {"name": "Mine"}, format="json").status_code == 403
    r = bob_client.delete("/api/locations/local/")
    assert r.status_code == 400 and "PROBE_LOCATION" in r.json()["detail"]
    r = bob_client.patch("/api/locations/local/", {"slug": "home"}, format="json")
    assert r.status_code == 400 and "slug" in r.json()
    assert ProbeLocation.objects.filter(slug="local").exists()


def test_a_location_used_by_servers_is_not_deleted(alice, alice_client):
    location = ProbeLocation.objects.create(name="Paris", slug="paris", team=alice.personal_team)
    for n in range(2):
        ServerLocation.objects.create(server=make_server(owner=alice, name=f"s{n}"), location=location)
    r = alice_client.delete("/api/locations/paris/")
    assert r.status_code == 409
    assert "2 servers" in r.json()["detail"]
    assert ProbeLocation.objects.filter(slug="paris").exists()
    server = Server.objects.get(name="s0")
    PingResult.objects.create(server=server, status="success", location=location)
    ServerLocation.objects.all().delete()
    # No server is checked from it any more: it goes, and the results checked from it with it.
    assert alice_client.delete("/api/locations/paris/").status_code == 204
    assert not ProbeLocation.objects.filter(slug="paris").exists() and not PingResult.objects.exists()


def test_a_slug_is_unique_and_well_formed(alice, alice_client, ops):
    ProbeLocation.objects.create(name="Paris", slug="paris", team=ops)
    r = alice_client.post("/api/locations/", {"name": "P", "slug": "paris"}, format="json")
    assert r.status_code == 400 and "slug" in r.json()
    r = alice_client.post("/api/locations/", {"name": "P", "slug": "no spaces"}, format="json")
    assert r.status_code == 400 and "slug" in r.json()
    r = alice_client.post("/api/locations/", {"name": "  "}, format="json")
    assert r.status_code == 400 and "name" in r.json()


@override_settings(SECRET_KEY="s" * 50)
def test_a_token_is_shown_once_listed_without_it_and_revoked_at_once(alice, alice_client):
    ProbeLocation.objects.create(name="Paris", slug="paris", team=alice.personal_team)
    r = alice_client.post("/api/locations/paris/tokens/", {"name": "agent 1"}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    raw = body["token"]
    assert raw.startswith("pga_") and len(raw) == 47 and body["prefix"] == raw[:12]
    row = AgentToken.objects.get(pk=body["id"])
    assert row.key_hash == digest(raw) and raw not in row.key_hash
    listed = alice_client.get("/api/locations/paris/tokens/").json()["results"]
    assert [t["id"] for t in listed] == [row.pk] and "token" not in listed[0]
    assert AuditEntry.objects.filter(action="key_create", object_type="agenttoken").count() == 1
    assert alice_client.delete(f"/api/locations/paris/tokens/{row.pk}/").status_code == 204
    assert not AgentToken.objects.filter(pk=row.pk).exists()
    assert AuditEntry.objects.filter(action="key_delete", object_type="agenttoken").count() == 1


def test_tokens_are_for_the_teams_admins_and_a_shared_locations_staff(ops, alice_client, bob_client, charlie):
    ProbeLocation.objects.create(name="Paris", slug="paris", team=ops)
    as_member = member(ops, charlie, Role.MEMBER)
    assert as_member.post("/api/locations/paris/tokens/", {"name": "a"}, format="json").status_code == 403
    assert as_member.get("/api/locations/paris/tokens/").status_code == 403
    assert alice_client.post("/api/locations/local/tokens/", {"name": "a"}, format="json").status_code == 403
    assert bob_client.post("/api/locations/local/tokens/", {"name": "a"}, format="json").status_code == 201
    r = alice_client.post("/api/locations/paris/tokens/", {"name": ""}, format="json")
    assert r.status_code == 400 and "name" in r.json()
    assert not AgentToken.objects.filter(location__slug="paris").exists()


def test_another_teams_location_tokens_are_hidden(ops, charlie_client):
    location = ProbeLocation.objects.create(name="Paris", slug="paris", team=ops)
    token = AgentToken.objects.create(location=location, name="a", prefix="pga_x", key_hash="h")
    assert charlie_client.get("/api/locations/paris/tokens/").status_code == 404
    assert charlie_client.delete(f"/api/locations/paris/tokens/{token.pk}/").status_code == 404
    assert AgentToken.objects.filter(pk=token.pk).exists()


def test_a_shared_location_shows_team_null_and_a_teams_location_never_becomes_shared(alice, alice_client):
    """``team`` is null for a shared location (the schema says so); null never moves a team's."""
    [local] = [loc for loc in alice_client.get("/api/locations/").json()["results"] if loc["slug"] == "local"]
    assert local["team"] is None and local["shared"] is True
    ProbeLocation.objects.create(name="Paris", slug="paris", team=alice.personal_team)
    r = alice_client.patch("/api/locations/paris/", {"team": None}, format="json")
    assert r.status_code == 400 and "team" in r.json()
    assert ProbeLocation.objects.get(slug="paris").team_id == alice.personal_team.pk
