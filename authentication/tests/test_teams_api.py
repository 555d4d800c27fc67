"""``/api/teams/`` and ``/api/teams/{slug}/members/`` (SPEC §17): who may do what, and the audit rows."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from api.teams import visible_teams
from authentication import keys, memberships
from authentication.models import ApiKey, AuditEntry, Membership, Role, Team, TwoFactor
from authentication.tests.team_helpers import Crew, audit_rows, crew_fixture  # noqa: F401 (the crew fixture)
from monitoring.models import Server
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db

ALL = ("owner", "admin", "member", "viewer", "stranger", "staff")


def slugs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [t["slug"] for t in response.json()["results"]]


# --- /api/teams/ ---------------------------------------------------------------------------------


def test_the_list_shows_the_callers_teams_with_the_callers_role(crew: Crew):
    assert slugs(crew.client("admin").get("/api/teams/")) == ["ada", "ops"]
    body = crew.client("viewer").get("/api/teams/").json()["results"]
    ops = next(t for t in body if t["slug"] == "ops")
    assert ops == {
        "id": crew.team.pk,
        "name": "Operations",
        "slug": "ops",
        "role": "viewer",
        "personal": False,
        "require_two_factor": False,
        "created_at": ops["created_at"],
    }
    personal = next(t for t in body if t["slug"] == "vic")
    assert personal["personal"] is True and personal["role"] == "owner"
    assert "ops" not in slugs(crew.client("stranger").get("/api/teams/"))


def test_staff_see_every_team(crew: Crew):
    assert set(slugs(crew.client("staff").get("/api/teams/"))) == {
        "alice",
        "bob",
        "charlie",
        "ada",
        "mel",
        "vic",
        "ops",
    }
    one = crew.client("staff").get("/api/teams/ops/").json()
    assert one["role"] is None


def test_a_team_one_is_not_in_answers_404(crew: Crew):
    client = crew.client("stranger")
    assert client.get("/api/teams/ops/").status_code == 404
    assert client.patch("/api/teams/ops/", {"name": "Mine"}, format="json").status_code == 404
    assert client.delete("/api/teams/ops/").status_code == 404
    assert client.get("/api/teams/no-such-team/").status_code == 404
    assert Team.objects.get(slug="ops").name == "Operations"


def test_anonymous_callers_get_401(crew: Crew, anon_client):
    assert anon_client.get("/api/teams/").status_code == 401
    assert anon_client.post("/api/teams/", {"name": "X"}, format="json").status_code == 401


def test_the_creator_of_a_team_is_its_owner(crew: Crew):
    response = crew.client("stranger").post("/api/teams/", {"name": "Night shift", "slug": "night"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["role"] == "owner" and response.json()["personal"] is False
    team = Team.objects.get(slug="night")
    assert crew.users["stranger"].memberships.get(team=team).role == Role.OWNER
    [row] = audit_rows("create", team=team)
    assert row.object_type == "team" and row.actor_name == "charlie"
    [added] = audit_rows("member_add", team=team)
    assert added.changes == {"role": [None, "owner"]}


def test_a_team_without_a_slug_gets_one_from_its_name(crew: Crew):
    response = crew.client("owner").post("/api/teams/", {"name": "Operations"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "operations"


@pytest.mark.parametrize("slug", ["Big Team", "-edge", "edge-", "ü", "a" * 51, ""])
def test_an_invalid_slug_answers_400_naming_slug(crew: Crew, slug: str):
    response = crew.client("owner").post("/api/teams/", {"name": "X", "slug": slug}, format="json")
    assert response.status_code == 400
    assert "slug" in response.json()
    patched = crew.client("owner").patch("/api/teams/ops/", {"slug": slug}, format="json")
    assert patched.status_code == 400 and "slug" in patched.json()
    assert Team.objects.filter(slug="ops").exists()


def test_a_taken_slug_answers_400(crew: Crew):
    response = crew.client("owner").post("/api/teams/", {"name": "X", "slug": "mel"}, format="json")
    assert response.status_code == 400
    assert "taken" in response.json()["slug"][0]
    patched = crew.client("owner").patch("/api/teams/ops/", {"slug": "mel"}, format="json")
    assert patched.status_code == 400 and "slug" in patched.json()


def test_a_slug_taken_between_the_check_and_the_write_answers_400(crew: Crew, monkeypatch):
    # Another request made "night" after this one looked: the unique constraint answers, not a 500.
    from authentication import memberships

    real = memberships.Team.objects.filter

    def looked_before(*args, **kwargs):
        found = real(*args, **kwargs)
        return found.none() if kwargs == {"slug": "night"} else found

    Team.objects.create(name="Theirs", slug="night")
    monkeypatch.setattr(memberships.Team.objects, "filter", looked_before)
    response = crew.client("owner").post("/api/teams/", {"name": "Mine", "slug": "night"}, format="json")
    assert response.status_code == 400 and "taken" in response.json()["slug"][0]
    assert Team.objects.get(slug="night").name == "Theirs"


def test_a_missing_name_answers_400_naming_name(crew: Crew):
    response = crew.client("owner").post("/api/teams/", {"slug": "x"}, format="json")
    assert response.status_code == 400 and "name" in response.json()


@pytest.mark.parametrize(
    ("who", "code"),
    [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403), ("stranger", 404), ("staff", 200)],
)
def test_renaming_a_team_is_for_admins_and_owners(crew: Crew, who: str, code: int):
    response = crew.client(who).patch("/api/teams/ops/", {"name": "Ops", "slug": "ops-2"}, format="json")
    assert response.status_code == code, response.content
    team = Team.objects.get(pk=crew.team.pk)
    if code == 200:
        assert (team.name, team.slug) == ("Ops", "ops-2")
        [row] = audit_rows("update", team=team)
        assert row.changes == {"name": ["Operations", "Ops"], "slug": ["ops", "ops-2"]}
    else:
        assert (team.name, team.slug) == ("Operations", "ops")
        assert not audit_rows("update")


def enrol(user) -> None:
    TwoFactor.objects.create(user=user, secret="JBSWY3DPEHPK3PXP", confirmed_at=timezone.now())


@pytest.mark.parametrize("who", ["admin", "member", "viewer"])
def test_only_owners_change_require_two_factor(crew: Crew, who: str):
    enrol(crew.users[who])
    response = crew.client(who).patch("/api/teams/ops/", {"require_two_factor": True}, format="json")
    assert response.status_code == 403
    assert Team.objects.get(pk=crew.team.pk).require_two_factor is False


def test_an_owner_not_enrolled_cannot_require_two_factor(crew: Crew):
    TwoFactor.objects.create(user=crew.users["owner"], secret="JBSWY3DPEHPK3PXP")  # never confirmed
    response = crew.client("owner").patch("/api/teams/ops/", {"require_two_factor": True}, format="json")
    assert response.status_code == 400
    assert "two-factor" in response.json()["require_two_factor"][0]
    assert Team.objects.get(pk=crew.team.pk).require_two_factor is False


def test_an_enrolled_owner_requires_two_factor_and_may_turn_it_off(crew: Crew):
    enrol(crew.users["owner"])
    client = crew.client("owner")
    response = client.patch("/api/teams/ops/", {"require_two_factor": True}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["require_two_factor"] is True
    assert Team.objects.get(pk=crew.team.pk).require_two_factor is True
    TwoFactor.objects.all().delete()
    # Turning it off needs no enrolment.
    assert client.patch("/api/teams/ops/", {"require_two_factor": False}, format="json").status_code == 200
    assert Team.objects.get(pk=crew.team.pk).require_two_factor is False
    rows = audit_rows("update", team=crew.team)
    assert [r.changes for r in rows] == [{"require_two_factor": [False, True]}, {"require_two_factor": [True, False]}]


@pytest.mark.parametrize(
    ("who", "code"),
    [("owner", 204), ("admin", 403), ("member", 403), ("viewer", 403), ("stranger", 404), ("staff", 204)],
)
def test_deleting_a_team_is_for_owners(crew: Crew, who: str, code: int):
    make_server(crew.users["owner"], team=crew.team)
    response = crew.client(who).delete("/api/teams/ops/")
    assert response.status_code == code, response.content
    assert Team.objects.filter(pk=crew.team.pk).exists() is (code != 204)
    assert Server.objects.filter(name="web").exists() is (code != 204)
    if code == 204:
        [row] = audit_rows("delete", object_type="team")
        assert row.object_name == "ops"


def test_a_personal_team_cannot_be_deleted(crew: Crew):
    response = crew.client("owner").delete("/api/teams/alice/")
    assert response.status_code == 400
    assert "personal team" in str(response.json())
    assert Team.objects.filter(slug="alice").exists()


# --- /api/teams/{slug}/members/ ------------------------------------------------------------------


def test_any_member_lists_the_members(crew: Crew):
    for who in ("owner", "admin", "member", "viewer", "staff"):
        response = crew.client(who).get("/api/teams/ops/members/")
        assert response.status_code == 200, (who, response.content)
        body = response.json()["results"]
        assert [m["user"]["username"] for m in body] == ["ada", "alice", "mel", "vic"]
    first = body[0]
    assert first == {
        "user": {"id": crew.users["admin"].pk, "username": "ada", "email": "ada@example.com"},
        "role": "admin",
        "joined_at": first["joined_at"],
    }
    assert crew.client("stranger").get("/api/teams/ops/members/").status_code == 404
    assert crew.client("stranger").get(f"/api/teams/ops/members/{crew.users['owner'].pk}/").status_code == 404


def member_url(crew: Crew, who: str) -> str:
    return f"/api/teams/ops/members/{crew.users[who].pk}/"


@pytest.mark.parametrize(
    ("who", "code"),
    [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403), ("stranger", 404), ("staff", 200)],
)
def test_changing_a_role_is_for_admins_and_owners(crew: Crew, who: str, code: int):
    response = crew.client(who).patch(member_url(crew, "member"), {"role": "viewer"}, format="json")
    assert response.status_code == code, response.content
    assert crew.role("member") == ("viewer" if code == 200 else "member")
    if code == 200:
        assert response.json()["role"] == "viewer"
        [row] = audit_rows("member_role", team=crew.team)
        assert row.changes == {"role": ["member", "viewer"]} and row.object_name == "mel"
    else:
        assert not audit_rows("member_role")


@pytest.mark.parametrize(
    ("who", "code"),
    [("owner", 200), ("admin", 403), ("member", 403), ("viewer", 403), ("stranger", 404), ("staff", 200)],
)
def test_only_owners_grant_the_owner_role(crew: Crew, who: str, code: int):
    response = crew.client(who).patch(member_url(crew, "viewer"), {"role": "owner"}, format="json")
    assert response.status_code == code, response.content
    assert crew.role("viewer") == ("owner" if code == 200 else "viewer")


def test_only_owners_demote_or_remove_an_owner(crew: Crew):
    Membership.objects.filter(team=crew.team, user=crew.users["member"]).update(role=Role.OWNER)
    admin = crew.client("admin")
    assert admin.patch(member_url(crew, "member"), {"role": "viewer"}, format="json").status_code == 403
    assert admin.delete(member_url(crew, "member")).status_code == 403
    assert crew.role("member") == "owner"
    owner = crew.client("owner")
    assert owner.patch(member_url(crew, "member"), {"role": "admin"}, format="json").status_code == 200
    assert crew.role("member") == "admin"


def test_an_admin_cannot_make_themself_owner(crew: Crew):
    response = crew.client("admin").patch(member_url(crew, "admin"), {"role": "owner"}, format="json")
    assert response.status_code == 403
    assert crew.role("admin") == "admin"


def test_the_last_owner_cannot_be_demoted(crew: Crew):
    response = crew.client("owner").patch(member_url(crew, "owner"), {"role": "admin"}, format="json")
    assert response.status_code == 400
    assert "last owner" in response.json()["role"][0]
    assert crew.role("owner") == "owner"
    # With a second owner, the first may step down.
    Membership.objects.filter(team=crew.team, user=crew.users["admin"]).update(role=Role.OWNER)
    assert crew.client("owner").patch(member_url(crew, "owner"), {"role": "admin"}, format="json").status_code == 200
    assert crew.role("owner") == "admin"


def test_the_last_owner_cannot_leave(crew: Crew):
    response = crew.client("owner").delete(member_url(crew, "owner"))
    assert response.status_code == 400
    assert "last owner" in response.json()["role"][0]
    assert crew.role("owner") == "owner"
    staff = crew.client("staff").delete(member_url(crew, "owner"))
    assert staff.status_code == 400 and "role" in staff.json()


@pytest.mark.parametrize("role", ["boss", "", None, 3])
def test_an_unknown_role_answers_400_naming_role(crew: Crew, role):
    response = crew.client("owner").patch(member_url(crew, "member"), {"role": role}, format="json")
    assert response.status_code == 400
    assert "role" in response.json()
    assert crew.role("member") == "member"


def test_a_patch_without_a_role_answers_400_naming_role(crew: Crew):
    response = crew.client("owner").patch(member_url(crew, "member"), {}, format="json")
    assert response.status_code == 400 and "role" in response.json()


def test_put_is_not_offered_on_a_member(crew: Crew):
    assert crew.client("owner").put(member_url(crew, "member"), {"role": "viewer"}, format="json").status_code == 405


@pytest.mark.parametrize(
    ("who", "code"),
    [("owner", 204), ("admin", 204), ("member", 403), ("viewer", 403), ("stranger", 404), ("staff", 204)],
)
def test_removing_a_member_is_for_admins_and_owners(crew: Crew, who: str, code: int):
    target = "viewer" if who != "viewer" else "member"
    response = crew.client(who).delete(member_url(crew, target))
    assert response.status_code == code, response.content
    assert (crew.role(target) is None) is (code == 204)
    if code == 204:
        [row] = audit_rows("member_remove", team=crew.team)
        assert row.changes == {"role": [target, None]}


@pytest.mark.parametrize("who", ["admin", "member", "viewer"])
def test_a_member_may_leave(crew: Crew, who: str):
    response = crew.client(who).delete(member_url(crew, who))
    assert response.status_code == 204
    assert crew.role(who) is None
    [row] = audit_rows("member_remove", team=crew.team)
    assert row.actor_id == crew.users[who].pk
    assert crew.client(who).get("/api/teams/ops/").status_code == 404


def test_a_member_not_in_the_team_answers_404(crew: Crew):
    response = crew.client("owner").patch(member_url(crew, "stranger"), {"role": "viewer"}, format="json")
    assert response.status_code == 404
    assert crew.client("owner").delete("/api/teams/ops/members/999999/").status_code == 404


def test_a_role_change_to_the_same_role_writes_no_row(crew: Crew):
    response = crew.client("owner").patch(member_url(crew, "member"), {"role": "member"}, format="json")
    assert response.status_code == 200
    assert not AuditEntry.objects.filter(action="member_role").exists()


@pytest.mark.parametrize(
    "path", ["/api/teams/%00/", "/api/teams/%00/members/", "/api/teams/ops/members/99999999999999999999/"]
)
def test_odd_paths_answer_404(crew: Crew, path: str):
    assert crew.client("owner").get(path).status_code == 404
    assert crew.client("owner").delete(path).status_code in {404, 405}


# --- API keys and query counts -------------------------------------------------------------------


def key_request(crew: Crew, scope: str):
    """A request made with a team API key, as the key engineer's authentication will set it."""
    key = ApiKey.objects.create(team=crew.team, name="ci", scope=scope, prefix="pgk_abcdefgh", key_hash=scope * 8)
    principal = SimpleNamespace(api_key=key, is_authenticated=True, is_staff=False, pk=None)
    return SimpleNamespace(user=principal, META={"REMOTE_ADDR": "127.0.0.1"})


@pytest.mark.parametrize("scope", ["read", "write"])
def test_an_api_key_manages_no_team_and_accepts_no_invitation(crew: Crew, scope: str):
    request = key_request(crew, scope)
    refusals = [
        lambda: memberships.create_team(request, "Keys", "keys"),
        lambda: memberships.invite(request, crew.team, "new@example.com", "viewer"),
        lambda: memberships.change_role(request, crew.team.memberships.get(user=crew.users["member"]), "viewer"),
        lambda: memberships.remove_member(request, crew.team.memberships.get(user=crew.users["member"])),
        lambda: memberships.update_team(request, crew.team, {"name": "Keys"}),
        lambda: memberships.delete_team(request, crew.team),
        lambda: memberships.accept(request, "any-token"),
    ]
    for refused in refusals:
        with pytest.raises(memberships.Refused) as caught:
            refused()
        assert caught.value.status in {403, 404}
    assert list(visible_teams(request.user)) == [crew.team]
    assert crew.role("member") == "member" and not Team.objects.filter(slug="keys").exists()


def test_the_member_list_costs_the_same_queries_for_more_members(crew: Crew):
    client = crew.client("viewer")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/teams/ops/members/").status_code == 200
    for i in range(10):
        Membership.objects.create(team=crew.team, user=User.objects.create_user(f"u{i}", f"u{i}@example.com"))
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/api/teams/ops/members/").json()["results"]) == 14
    assert len(many) == len(few)
    with CaptureQueriesContext(connection) as teams_few:
        client.get("/api/teams/")
    for i in range(5):
        Membership.objects.create(team=Team.objects.create(name=f"T{i}", slug=f"t{i}"), user=crew.users["viewer"])
    with CaptureQueriesContext(connection) as teams_many:
        assert len(client.get("/api/teams/").json()["results"]) == 7
    assert len(teams_many) == len(teams_few)


@pytest.mark.parametrize("scope", ["read", "write"])
def test_a_real_api_key_sees_its_team_only_and_manages_nothing(crew: Crew, scope: str):
    _key, raw = keys.create(crew.team, "ci", scope, crew.users["owner"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert slugs(client.get("/api/teams/")) == ["ops"]
    assert client.get("/api/teams/ops/members/").status_code == 200
    assert client.get("/api/teams/alice/").status_code == 404
    assert client.post("/api/teams/", {"name": "Keys"}, format="json").status_code == 403
    invite = client.post("/api/teams/ops/invitations/", {"email": "n@example.com"}, format="json")
    assert invite.status_code == 403  # a write key acts as a member
    member = f"/api/teams/ops/members/{crew.users['member'].pk}/"
    assert client.patch(member, {"role": "viewer"}, format="json").status_code == 403
    assert client.delete(member).status_code == 403
    assert client.delete("/api/teams/ops/").status_code == 403
    assert crew.role("member") == "member" and Team.objects.filter(slug="ops").exists()
