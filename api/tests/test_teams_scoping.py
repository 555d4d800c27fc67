"""Objects belong to a team (SPEC §17): who sees them, who may change them, where new ones go."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from authentication.models import Membership, Role, Team
from conftest import client_for
from monitoring.models import MaintenanceWindow, Server, StatusPage
from monitoring.tests.factories import make_server

User = get_user_model()
TCP = {"name": "db", "protocol": "tcp", "host": "db.example.com", "port": 5432}


@pytest.fixture
def ops(alice: Any) -> Team:
    """A shared team that alice owns."""
    team = Team.objects.create(name="Ops", slug="ops")
    Membership.objects.create(team=team, user=alice, role=Role.OWNER)
    return team


def join(team: Team, user: Any, role: str) -> Any:
    Membership.objects.create(team=team, user=user, role=role)
    return client_for(user)


def test_sign_up_makes_a_personal_team_owned_by_the_new_user(db, anon_client):
    r = anon_client.post(
        "/api/auth/register/",
        {"username": "dora", "email": "dora@example.com", "password": "dora-password-1"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    dora = User.objects.get(username="dora")
    team = Team.objects.get(personal_for=dora)
    assert team.slug == "dora"
    assert Membership.objects.get(team=team).role == Role.OWNER


def test_personal_team_slugs_stay_unique_and_valid(db):
    Team.objects.create(name="x", slug="a-b")
    user = User.objects.create_user("A_B", password="pw-long-enough-1")
    assert Team.objects.get(personal_for=user).slug == "a-b-2"
    odd = User.objects.create_user("@@@", password="pw-long-enough-1")
    assert Team.objects.get(personal_for=odd).slug == f"user-{odd.pk}"


def test_a_new_object_goes_to_the_personal_team_unless_a_team_is_named(alice, alice_client, ops):
    r = alice_client.post("/api/servers/", TCP, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["team"] == "alice"
    assert Server.objects.get(pk=r.json()["id"]).team == alice.personal_team
    r = alice_client.post("/api/servers/", {**TCP, "name": "db2", "team": "ops"}, format="json")
    assert r.status_code == 201 and r.json()["team"] == "ops"
    for url, body in [
        ("/api/status-pages/", {"slug": "ops-page", "title": "Ops", "team": "ops"}),
        (
            "/api/maintenance-windows/",
            {"name": "w", "starts_at": "2030-01-01T00:00Z", "ends_at": "2030-01-01T01:00Z", "tags": ["db"]}
            | {"team": "ops"},
        ),
    ]:
        r = alice_client.post(url, body, format="json")
        assert r.status_code == 201 and r.json()["team"] == "ops", r.json()
    assert StatusPage.objects.get().team == ops and MaintenanceWindow.objects.get().team == ops


def test_a_team_you_are_not_in_is_400_naming_team(alice, alice_client, charlie):
    theirs = charlie.personal_team
    for slug in (theirs.slug, "no-such-team", 5):
        r = alice_client.post("/api/servers/", {**TCP, "team": slug}, format="json")
        assert r.status_code == 400 and "team" in r.json(), r.json()
    assert not Server.objects.exists()


def test_members_share_the_teams_servers_and_others_get_404(alice, bob, charlie, ops):
    server = make_server(alice, team=ops)
    dora = User.objects.create_user("dora", password="pw-long-enough-1")
    dora_client = join(ops, dora, Role.VIEWER)
    assert [s["id"] for s in dora_client.get("/api/servers/").json()["results"]] == [server.pk]
    assert dora_client.get(f"/api/servers/{server.pk}/").status_code == 200
    assert client_for(charlie).get(f"/api/servers/{server.pk}/").status_code == 404
    assert client_for(charlie).get("/api/servers/").json()["results"] == []
    assert client_for(bob).get(f"/api/servers/{server.pk}/").status_code == 200  # staff see everything


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("patch", "", {"name": "renamed"}),
        ("delete", "", None),
        ("post", "pause/", None),
        ("post", "resume/", None),
        ("post", "check/", None),
    ],
)
def test_a_viewer_gets_403_on_every_change_and_a_member_may(alice, ops, method, suffix, body):
    server = make_server(alice, team=ops, is_active=suffix != "resume/")
    viewer = join(ops, User.objects.create_user("vera", password="pw-long-enough-1"), Role.VIEWER)
    r = getattr(viewer, method)(f"/api/servers/{server.pk}/{suffix}", body, format="json")
    assert r.status_code == 403, r.content
    assert "viewer" in r.json()["detail"]
    assert Server.objects.filter(pk=server.pk, name="web").exists()
    member = join(ops, User.objects.create_user("mia", password="pw-long-enough-1"), Role.MEMBER)
    r = getattr(member, method)(f"/api/servers/{server.pk}/{suffix}", body, format="json")
    assert r.status_code < 300 or (suffix == "check/" and r.status_code in (200, 502)), r.content


def test_a_viewer_may_not_create_in_the_team(alice, ops):
    viewer = join(ops, User.objects.create_user("vera", password="pw-long-enough-1"), Role.VIEWER)
    r = viewer.post("/api/servers/", {**TCP, "team": "ops"}, format="json")
    assert r.status_code == 403, r.json()
    server = make_server(alice, team=ops)
    r = viewer.post(
        "/api/notification-configs/",
        {"server": server.pk, "notification_type": "email", "recipient": "a@example.com"},
        format="json",
    )
    assert r.status_code == 403, r.json()
    assert not Server.objects.filter(name="db").exists()


def test_an_object_never_moves_to_another_team(alice, alice_client, ops):
    server = make_server(alice)
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"team": "ops"}, format="json")
    assert r.status_code == 400 and "team" in r.json(), r.json()
    assert Server.objects.get(pk=server.pk).team == alice.personal_team
    assert (
        alice_client.patch(f"/api/servers/{server.pk}/", {"team": "alice", "name": "x"}, format="json").status_code
        == 200
    )


def test_lists_filter_by_team_and_refuse_a_team_you_are_not_in(alice, alice_client, charlie, ops):
    make_server(alice, name="mine")
    shared = make_server(alice, name="shared", team=ops)
    names = lambda r: [s["name"] for s in r.json()["results"]]  # noqa: E731
    assert names(alice_client.get("/api/servers/")) == ["mine", "shared"]
    assert names(alice_client.get("/api/servers/?team=ops")) == ["shared"]
    assert names(alice_client.get("/api/servers/?team=alice")) == ["mine"]
    assert [s["server"] for s in alice_client.get("/api/server-status/?team=ops").json()["results"]] == [shared.pk]
    for slug in (charlie.personal_team.slug, "nope"):
        r = alice_client.get(f"/api/servers/?team={slug}")
        assert r.status_code == 400 and "team" in r.json(), r.json()


def test_a_member_who_leaves_or_is_deleted_leaves_the_teams_servers_behind(alice, ops):
    mia = User.objects.create_user("mia", password="pw-long-enough-1")
    join(ops, mia, Role.MEMBER).post("/api/servers/", {**TCP, "team": "ops"}, format="json")
    server = Server.objects.get(team=ops)
    assert server.owner == mia
    mia.delete()
    server.refresh_from_db()
    assert server.owner is None and server.team == ops
    assert client_for(alice).get(f"/api/servers/{server.pk}/").json()["owner"] is None


def test_deleting_a_user_deletes_their_personal_team_and_its_servers(alice):
    server = make_server(alice)
    team_id = alice.personal_team.pk
    alice.delete()
    assert not Server.objects.filter(pk=server.pk).exists() and not Team.objects.filter(pk=team_id).exists()


def test_a_private_status_page_shows_to_the_teams_members_only(alice, charlie, ops, client):
    StatusPage.objects.create(owner=alice, team=ops, slug="ops-private", title="Ops")
    dora = User.objects.create_user("dora", password="pw-long-enough-1")
    Membership.objects.create(team=ops, user=dora, role=Role.VIEWER)
    client.force_login(charlie)
    assert client.get("/status/ops-private/").status_code == 404
    client.force_login(dora)
    assert client.get("/status/ops-private/").status_code == 200


def test_export_and_import_are_per_team(alice, alice_client, charlie, ops):
    make_server(alice, name="mine")
    make_server(alice, name="shared", team=ops)
    doc = alice_client.get("/api/config/export/?team=ops&format=json").json()
    assert [s["name"] for s in doc["servers"]] == ["shared"]
    assert [s["name"] for s in alice_client.get("/api/config/export/?format=json").json()["servers"]] == ["mine"]
    doc["servers"][0]["name"] = "imported"
    r = alice_client.post("/api/config/import/?team=ops", doc, format="json")
    assert r.status_code == 200, r.json()
    assert Server.objects.get(name="imported").team == ops
    assert client_for(charlie).post("/api/config/import/?team=ops", doc, format="json").status_code == 400
    viewer = join(ops, User.objects.create_user("vera", password="pw-long-enough-1"), Role.VIEWER)
    assert viewer.post("/api/config/import/?team=ops", doc, format="json").status_code == 403
    assert viewer.get("/api/config/export/?team=ops").status_code == 403  # an export holds secrets


def test_a_viewer_never_sees_a_push_url_header_values_or_a_webhook_token(alice, alice_client, ops):
    push = Server.objects.create(owner=alice, team=ops, name="cron", protocol="push", check_interval=60)
    web = make_server(alice, team=ops, name="api", request_headers={"Authorization": "Bearer s3cret"})
    hook = alice_client.post(
        "/api/notification-configs/",
        {"server": web.pk, "notification_type": "slack", "recipient": "https://hooks.slack.com/services/T0/B0/tok3n"},
        format="json",
    )
    assert hook.status_code == 201, hook.json()
    viewer = join(ops, User.objects.create_user("vera", password="pw-long-enough-1"), Role.VIEWER)
    seen = {s["name"]: s for s in viewer.get("/api/servers/").json()["results"]}
    assert seen["cron"]["push_url"] is None and seen["cron"]["push_token"] is None
    assert seen["api"]["request_headers"] == {"Authorization": "••••"}
    [config] = viewer.get("/api/notification-configs/").json()["results"]
    assert config["recipient"] == "https://hooks.slack.com/••••"
    assert "tok3n" not in viewer.get(f"/api/notification-configs/{config['id']}/").content.decode()
    assert viewer.post(f"/api/servers/{push.pk}/push-token/").status_code == 403
    assert viewer.get(f"/api/servers/{web.pk}/certificate/?refresh=1").status_code == 403
    # The team's members see them.
    mine = {s["name"]: s for s in alice_client.get("/api/servers/").json()["results"]}
    assert mine["cron"]["push_url"].endswith(f"/api/push/{push.push_token}/")
    assert mine["api"]["request_headers"] == {"Authorization": "Bearer s3cret"}
