"""The header's team switcher (SPEC §17): it lists the user's teams, and the chosen one filters
the lists and is the team of new objects."""

from __future__ import annotations

from typing import Any

import pytest

from authentication.models import Membership, Role, Team
from monitoring.tests.factories import make_server


@pytest.fixture
def ops(alice: Any) -> Team:
    team = Team.objects.create(name="Ops crew", slug="ops")
    Membership.objects.create(team=team, user=alice, role=Role.MEMBER)
    return team


def test_the_header_lists_the_users_teams_and_not_others(client, alice, charlie, ops):
    Team.objects.create(name="Secret crew", slug="secret")
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert 'id="team-switch"' in page and "Ops crew" in page and "alice (personal)" in page
    assert "Secret crew" not in page and charlie.personal_team.name not in page.split("<main>")[0]
    assert 'data-team=""' in page  # all teams until one is chosen


def test_choosing_a_team_filters_the_dashboard_and_marks_the_page(client, alice, ops):
    make_server(alice, name="mine-server")
    make_server(alice, name="ops-server", team=ops)
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "mine-server" in page and "ops-server" in page
    r = client.post("/switch-team/", {"team": "ops", "next": "/?sort=name"})
    assert r.status_code == 302 and r["Location"] == "/?sort=name"
    page = client.get("/").content.decode()
    assert "ops-server" in page and "mine-server" not in page
    assert 'data-team="ops"' in page and '<option value="ops" selected>' in page
    assert "team=ops" in client.get("/config/").content.decode()  # the export links follow it
    client.post("/switch-team/", {"team": ""})
    assert "mine-server" in client.get("/").content.decode()


def test_a_team_one_is_not_in_and_an_outside_next_are_ignored(client, alice, charlie):
    client.force_login(alice)
    r = client.post("/switch-team/", {"team": charlie.personal_team.slug, "next": "https://evil.example.com/"})
    assert r["Location"] == "/"
    assert 'data-team=""' in client.get("/").content.decode()


def test_leaving_the_chosen_team_falls_back_to_all_teams(client, alice, ops):
    client.force_login(alice)
    client.post("/switch-team/", {"team": "ops"})
    Membership.objects.filter(team=ops, user=alice).delete()
    assert 'data-team=""' in client.get("/").content.decode()


def test_a_viewer_sees_the_server_page_without_the_buttons_that_would_be_refused(client, alice, ops):
    server = make_server(alice, team=ops)
    Membership.objects.filter(team=ops, user=alice).update(role=Role.VIEWER)
    client.force_login(alice)
    page = client.get(f"/servers/{server.pk}/").content.decode()
    assert 'data-can-change="false"' in page and "you can look, not change" in page
    assert f'href="/servers/{server.pk}/edit/"' not in page
    assert '<button type="button" id="delete" class="danger" disabled>' in page
    assert client.get(f"/servers/{server.pk}/edit/").status_code == 403
    Membership.objects.filter(team=ops, user=alice).update(role=Role.MEMBER)
    page = client.get(f"/servers/{server.pk}/").content.decode()
    assert 'data-can-change="true"' in page and f'href="/servers/{server.pk}/edit/"' in page


def test_the_add_server_page_says_which_team_the_server_goes_to(client, alice, ops):
    client.force_login(alice)
    assert "your personal team" in client.get("/servers/new/").content.decode()
    client.post("/switch-team/", {"team": "ops"})
    assert "the team <strong>Ops crew</strong>" in client.get("/servers/new/").content.decode()
    server = make_server(alice, team=ops)
    assert "In the team <strong>Ops crew</strong>" in client.get(f"/servers/{server.pk}/edit/").content.decode()
