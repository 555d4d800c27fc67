"""``/api/escalation-policies/``, a server's ``escalation_policy`` and ``POST /api/incidents/{id}/ack/`` (SPEC §18)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from authentication.models import AuditEntry, Membership, Role, Team
from conftest import client_for
from monitoring.choices import NotificationType
from monitoring.models import EscalationPolicy, Incident, NotificationDelivery
from monitoring.services.alerts.escalation import escalation_step
from monitoring.tests.alerting import go_down, go_up, make_config, make_server

User = get_user_model()
pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(alice: Any) -> Team:
    team = Team.objects.create(name="Ops", slug="ops")
    Membership.objects.create(team=team, user=alice, role=Role.OWNER)
    return team


@pytest.fixture
def world(alice: Any, charlie: Any, ops: Team) -> dict[str, Any]:
    """Team ops (alice owns it) with a server and two configs; charlie's personal team has a config too."""
    server = make_server(alice, team=ops)
    first = make_config(server, NotificationType.EMAIL, "first@example.com")
    second = make_config(server, NotificationType.EMAIL, "second@example.com")
    theirs = make_config(make_server(charlie, name="charlie's"), NotificationType.EMAIL, "bob@example.com")
    return {"server": server, "first": first, "second": second, "theirs": theirs}


def policy_body(*steps: tuple[int, list[int]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "On call",
        "team": "ops",
        "steps": [{"after_minutes": m, "notification_configs": ids} for m, ids in steps],
        **extra,
    }


def join(team: Team, role: str) -> Any:
    user = User.objects.create_user(role, f"{role}@example.com", f"{role}-password-1")
    Membership.objects.create(team=team, user=user, role=role)
    return client_for(user)


def test_create_list_filter_update_and_delete_a_policy_with_audit_rows(alice_client, world):
    body = policy_body((0, [world["first"].pk]), (5, [world["second"].pk]), repeat_every_minutes=10)
    r = alice_client.post("/api/escalation-policies/", body, format="json")
    assert r.status_code == 201, r.json()
    data = r.json()
    assert data["team"] == "ops" and data["repeat_every_minutes"] == 10 and data["owner"] == "alice"
    assert data["steps"] == body["steps"]
    pk = data["id"]
    assert [p["id"] for p in alice_client.get("/api/escalation-policies/?team=ops").json()["results"]] == [pk]
    assert alice_client.get("/api/escalation-policies/?team=alice").json()["results"] == []
    assert alice_client.get("/api/escalation-policies/?team=nope").status_code == 400
    r = alice_client.patch(f"/api/escalation-policies/{pk}/", {"repeat_every_minutes": 0}, format="json")
    assert r.status_code == 200 and r.json()["repeat_every_minutes"] == 0
    assert alice_client.delete(f"/api/escalation-policies/{pk}/").status_code == 204
    actions = list(AuditEntry.objects.filter(object_type="escalationpolicy").values_list("action", flat=True))
    assert sorted(actions) == ["create", "delete", "update"]


@pytest.mark.parametrize(
    "steps",
    [
        [{"after_minutes": 5, "notification_configs": []}],  # the first step is at 0
        [{"after_minutes": 0, "notification_configs": []}, {"after_minutes": 0, "notification_configs": []}],
        [],
        "steps",
        [{"after_minutes": "x", "notification_configs": []}],
        [{"after_minutes": 10**30, "notification_configs": []}],
        [{"after_minutes": 0, "notification_configs": [10**30]}],
        [{"after_minutes": 0, "notification_configs": "1"}],
        [{"after_minutes": 0}],
        [None],
    ],
)
def test_bad_steps_answer_400_naming_steps(alice_client, world, steps):
    r = alice_client.post("/api/escalation-policies/", {"name": "p", "team": "ops", "steps": steps}, format="json")
    assert r.status_code == 400 and "steps" in r.json(), r.content


def test_a_step_naming_another_teams_config_is_a_400_naming_steps(alice_client, world):
    body = policy_body((0, [world["first"].pk, world["theirs"].pk]))
    r = alice_client.post("/api/escalation-policies/", body, format="json")
    assert r.status_code == 400 and "steps" in r.json()
    assert str(world["theirs"].pk) in str(r.json()["steps"])
    assert not EscalationPolicy.objects.exists()


def test_bad_names_and_numbers_are_400s_not_500s(alice_client, world):
    for body in (
        policy_body((0, []), name="a\x00b"),
        policy_body((0, []), name="  "),
        policy_body((0, []), repeat_every_minutes=-1),
        policy_body((0, []), repeat_every_minutes=10**30),
    ):
        assert alice_client.post("/api/escalation-policies/", body, format="json").status_code == 400


def test_a_server_names_a_policy_of_its_own_team_only(alice, alice_client, charlie, world):
    mine = EscalationPolicy.objects.create(team=world["server"].team, name="mine", steps=[])
    other = EscalationPolicy.objects.create(owner=charlie, name="bob's", steps=[])
    url = f"/api/servers/{world['server'].pk}/"
    r = alice_client.patch(url, {"escalation_policy": other.pk}, format="json")
    assert r.status_code == 400 and "escalation_policy" in r.json()
    r = alice_client.patch(url, {"escalation_policy": mine.pk}, format="json")
    assert r.status_code == 200 and r.json()["escalation_policy"] == mine.pk
    r = alice_client.patch(url, {"escalation_policy": None}, format="json")
    assert r.status_code == 200 and r.json()["escalation_policy"] is None
    r = alice_client.patch(url, {"escalation_policy": "x"}, format="json")
    assert r.status_code == 400


def test_a_viewer_may_read_policies_not_change_them(world, ops):
    policy = EscalationPolicy.objects.create(
        team=ops, name="p", steps=[{"after_minutes": 0, "notification_configs": []}]
    )
    viewer = join(ops, Role.VIEWER)
    assert viewer.get(f"/api/escalation-policies/{policy.pk}/").status_code == 200
    assert viewer.patch(f"/api/escalation-policies/{policy.pk}/", {"name": "x"}, format="json").status_code == 403
    assert viewer.post("/api/escalation-policies/", policy_body((0, [])), format="json").status_code == 403


def test_a_stranger_sees_no_policy(charlie_client, world, ops):
    policy = EscalationPolicy.objects.create(team=ops, name="p", steps=[])
    assert charlie_client.get(f"/api/escalation-policies/{policy.pk}/").status_code == 404
    assert charlie_client.get("/api/escalation-policies/").json()["results"] == []


def open_incident(world: dict[str, Any]) -> Incident:
    go_down(world["server"])
    return Incident.objects.get(server=world["server"])


def test_a_member_acknowledges_with_a_note_and_the_api_shows_it(world, ops):
    incident = open_incident(world)
    member = join(ops, Role.MEMBER)
    r = member.post(f"/api/incidents/{incident.pk}/ack/", {"note": "on it"}, format="json")
    assert r.status_code == 200, r.json()
    data = r.json()
    assert data["acknowledged_by"] == "member" and data["acknowledged_at"]
    assert [e["kind"] for e in data["timeline"]] == ["opened", "acknowledged"]
    assert data["timeline"][-1]["note"] == "on it" and data["timeline"][-1]["by"] == "member"
    assert AuditEntry.objects.filter(action="acknowledge", object_id=incident.pk).count() == 1
    again = member.post(f"/api/incidents/{incident.pk}/ack/", {}, format="json")
    assert again.status_code == 200 and len(again.json()["timeline"]) == 2
    listed = member.get("/api/incidents/?acknowledged=true").json()["results"]
    assert [i["id"] for i in listed] == [incident.pk]
    assert member.get("/api/incidents/?acknowledged=false").json()["results"] == []


def test_a_viewer_may_not_acknowledge_and_a_stranger_finds_nothing(world, ops, charlie_client):
    incident = open_incident(world)
    viewer = join(ops, Role.VIEWER)
    assert viewer.post(f"/api/incidents/{incident.pk}/ack/", {}, format="json").status_code == 403
    assert charlie_client.post(f"/api/incidents/{incident.pk}/ack/", {}, format="json").status_code == 404
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_acknowledging_a_closed_incident_or_with_a_bad_note_is_a_400(alice_client, world):
    incident = open_incident(world)
    url = f"/api/incidents/{incident.pk}/ack/"
    assert alice_client.post(url, {"note": "x" * 1001}, format="json").status_code == 400
    assert alice_client.post(url, {"note": "a\x00b"}, format="json").status_code == 400
    assert alice_client.post(url, {"note": ["x"]}, format="json").status_code == 400
    go_up(world["server"])
    r = alice_client.post(url, {}, format="json")
    assert r.status_code == 400 and "over" in r.json()["detail"]


def test_acknowledging_through_the_api_stops_escalation(alice_client, world, ops):
    policy = EscalationPolicy.objects.create(
        team=ops,
        name="p",
        steps=[
            {"after_minutes": 0, "notification_configs": [world["first"].pk]},
            {"after_minutes": 1, "notification_configs": [world["second"].pk]},
        ],
    )
    world["server"].escalation_policy = policy
    world["server"].save()
    incident = open_incident(world)
    incident.refresh_from_db()
    assert incident.next_escalation_at is not None
    assert alice_client.post(f"/api/incidents/{incident.pk}/ack/", {}, format="json").status_code == 200
    incident.refresh_from_db()
    assert incident.next_escalation_at is None
    assert escalation_step(incident.started_at.replace(year=incident.started_at.year + 1)) == 0
    assert NotificationDelivery.objects.filter(config=world["second"]).count() == 0
