"""The team pages (SPEC §17): /teams/, /teams/<slug>/ and the invitation link, with plain forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

import pytest
from django.conf import global_settings
from django.contrib.auth.models import User
from django.core import mail
from django.db import connections
from django.test import Client, override_settings
from django.utils import timezone

from authentication import memberships
from authentication.models import Invitation, Membership, Team
from authentication.tests.team_helpers import Crew, audit_rows, crew_fixture  # noqa: F401 (the crew fixture)

pytestmark = pytest.mark.django_db

T = TypeVar("T")


def web(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_the_teams_page_lists_ones_teams_and_creates_one(crew: Crew):
    client = web(crew.users["admin"])
    page = client.get("/teams/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Operations" in html and 'href="/teams/ops/"' in html and "personal" in html
    assert "Content-Security-Policy" in page.headers and "<script>" not in html
    response = client.post("/teams/", {"name": "Night shift", "slug": ""})
    assert response.status_code == 302 and response["Location"] == "/teams/night-shift/"
    assert Membership.objects.get(team__slug="night-shift", user=crew.users["admin"]).role == "owner"
    assert audit_rows("create", team__slug="night-shift")
    taken = client.post("/teams/", {"name": "Again", "slug": "ops"})
    assert taken.status_code == 400 and "taken" in taken.content.decode()
    bad = client.post("/teams/", {"name": "Bad", "slug": "Not A Slug"})
    assert bad.status_code == 400 and Team.objects.filter(name="Bad").count() == 0
    assert web(None).get("/teams/").status_code == 302  # to the login page


def test_the_team_page_shows_members_and_the_controls_a_role_allows(crew: Crew):
    owner = web(crew.users["owner"]).get("/teams/ops/").content.decode()
    assert all(name in owner for name in ("ada", "alice", "mel", "vic"))
    assert 'value="owner"' in owner and "Send invitation" in owner and "Delete this team" in owner
    admin = web(crew.users["admin"]).get("/teams/ops/").content.decode()
    assert "Send invitation" in admin and "Delete this team" not in admin
    assert 'value="owner"' not in admin  # an admin cannot grant it
    assert "require_two_factor" not in admin
    viewer = web(crew.users["viewer"]).get("/teams/ops/").content.decode()
    assert "Send invitation" not in viewer and 'name="role"' not in viewer and "Leave" in viewer
    assert web(crew.users["stranger"]).get("/teams/ops/").status_code == 404
    assert web(crew.users["owner"]).post("/teams/ops/members/99999999999999999999/remove/").status_code == 404


def test_the_team_page_changes_roles_removes_members_and_refuses_with_the_reason(crew: Crew):
    client = web(crew.users["owner"])
    member = crew.users["member"].pk
    response = client.post(f"/teams/ops/members/{member}/role/", {"role": "admin"})
    assert response.status_code == 302
    assert crew.role("member") == "admin"
    assert audit_rows("member_role")[0].changes == {"role": ["member", "admin"]}
    last = client.post(f"/teams/ops/members/{crew.users['owner'].pk}/role/", {"role": "viewer"})
    assert last.status_code == 400 and "last owner" in last.content.decode()
    assert client.post(f"/teams/ops/members/{member}/remove/").status_code == 302
    assert crew.role("member") is None
    refused = web(crew.users["viewer"]).post(f"/teams/ops/members/{crew.users['admin'].pk}/remove/")
    assert refused.status_code == 403 and crew.role("admin") == "admin"
    leave = web(crew.users["viewer"]).post(f"/teams/ops/members/{crew.users['viewer'].pk}/remove/")
    assert leave.status_code == 302 and leave["Location"] == "/teams/"
    assert crew.role("viewer") is None


def test_the_team_page_sends_and_revokes_invitations(crew: Crew):
    client = web(crew.users["admin"])
    response = client.post("/teams/ops/invitations/", {"email": "new@example.com", "role": "viewer"})
    assert response.status_code == 302
    [message] = mail.outbox
    assert "/invitations/" in message.body
    invitation = Invitation.objects.get()
    assert invitation.role == "viewer" and invitation.invited_by == crew.users["admin"]
    assert "new@example.com" in client.get("/teams/ops/").content.decode()
    owner_role = client.post("/teams/ops/invitations/", {"email": "boss@example.com", "role": "owner"})
    assert owner_role.status_code == 403
    member = client.post("/teams/ops/invitations/", {"email": "mel@example.com", "role": "member"})
    assert member.status_code == 400 and "already a member" in member.content.decode()
    assert client.post(f"/teams/ops/invitations/{invitation.pk}/revoke/").status_code == 302
    assert not Invitation.objects.exists()
    assert web(crew.users["member"]).post("/teams/ops/invitations/", {"email": "x@example.com"}).status_code == 403


def test_the_team_page_saves_settings_and_deletes_the_team(crew: Crew):
    client = web(crew.users["owner"])
    response = client.post("/teams/ops/settings/", {"name": "Ops", "slug": "ops-team"})
    assert response.status_code == 302 and response["Location"] == "/teams/ops-team/"
    two_factor = client.post(
        "/teams/ops-team/settings/", {"name": "Ops", "slug": "ops-team", "require_two_factor": "on"}
    )
    assert two_factor.status_code == 400 and "two-factor" in two_factor.content.decode()
    assert client.post("/teams/ops-team/delete/", {"confirm": "nope"}).status_code == 400
    assert Team.objects.filter(slug="ops-team").exists()
    assert client.post("/teams/ops-team/delete/", {"confirm": "ops-team"})["Location"] == "/teams/"
    assert not Team.objects.filter(slug="ops-team").exists()
    personal = client.post("/teams/alice/delete/", {"confirm": "alice"})
    assert personal.status_code == 400 and "personal team" in personal.content.decode()


def invitation_link(crew: Crew, email: str = "new@example.com", role: str = "member") -> str:
    mail.outbox.clear()
    web(crew.users["owner"]).post("/teams/ops/invitations/", {"email": email, "role": role})
    return re.search(r"https?://[^/\s]+(/invitations/[^/\s]+/)", mail.outbox[0].body).group(1)


def test_the_invitation_page_signed_in_shows_the_team_and_accepts(crew: Crew):
    link = invitation_link(crew, role="admin")
    newcomer = User.objects.create_user("newcomer", "new@example.com", "x-password-1")
    client = web(newcomer)
    page = client.get(link).content.decode()
    assert "Operations" in page and "Admin" in page and "Accept" in page
    response = client.post(link)
    assert response.status_code == 302 and response["Location"] == "/teams/ops/"
    assert Membership.objects.get(team=crew.team, user=newcomer).role == "admin"
    used = client.get(link)
    assert used.status_code == 410 and "already used" in used.content.decode()
    # Signed in with another address: no Accept button, and accepting anyway is refused.
    other = invitation_link(crew, email="someone@example.com")
    page = web(crew.users["stranger"]).get(other).content.decode()
    assert "someone@example.com" in page and "Accept and join" not in page
    assert web(crew.users["stranger"]).post(other).status_code == 403


def test_the_invitation_page_leads_a_new_person_through_sign_up(crew: Crew):
    link = invitation_link(crew)
    anonymous = Client()
    page = anonymous.get(link)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'value="new@example.com"' in html and "/accounts/login/?next=" in html
    bad = anonymous.post(link, {"username": "newbie", "email": "new@example.com", "password": "a", "password2": "b"})
    assert bad.status_code == 400 and not User.objects.filter(username="newbie").exists()
    body = {"username": "newbie", "email": "new@example.com", "password": "a-long-passphrase-9"}
    signed_up = anonymous.post(link, body | {"password2": body["password"]})
    assert signed_up.status_code == 302 and signed_up["Location"] == link
    assert "Accept and join Operations" in anonymous.get(link).content.decode()
    assert anonymous.post(link)["Location"] == "/teams/ops/"
    assert Membership.objects.filter(team=crew.team, user__username="newbie", role="member").exists()


def test_an_expired_or_unknown_invitation_link_says_so(crew: Crew):
    link = invitation_link(crew)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    for client in (Client(), web(crew.users["stranger"])):
        page = client.get(link)
        assert page.status_code == 410 and "expired" in page.content.decode()
    assert Client().get("/invitations/nothing-here/").status_code == 404


def off_loop(fn: Callable[[], T]) -> T:
    """``fn()`` in a thread of its own: Playwright's sync API runs an event loop in this one, where
    Django refuses the ORM."""

    def run() -> T:
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


@pytest.mark.django_db(transaction=True)
def test_the_team_pages_in_a_browser(alice, charlie):
    """alice makes a team, invites someone and changes roles; a newcomer opens the link, signs up
    and accepts. Every page is photographed (logs/screens/teams-*.png)."""
    from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser
    from tests.test_web_browser import shoot

    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        alice.set_password("alice-password-1")
        alice.save()
    token = "browser-walk-token"
    with daphne() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(f"{base}/accounts/login/?next=/teams/")
            page.fill("#id_username", "alice")
            page.fill("#id_password", "alice-password-1")
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/teams/")
            page.fill("#id_name", "Night shift")
            page.click("text=Create team")
            page.wait_for_url(f"{base}/teams/night-shift/")
            expect(page.locator("main")).to_contain_text("you are its owner")
            page.fill("#id_invite_email", "newbie@example.com")
            page.select_option("#id_invite_role", "admin")
            page.click("text=Send invitation")
            expect(page.locator("#invitations")).to_contain_text("newbie@example.com")
            team = off_loop(lambda: Team.objects.get(slug="night-shift"))
            off_loop(lambda: Membership.objects.create(team=team, user=charlie, role="viewer"))
            page.reload()
            page.select_option(f"#role-{charlie.pk}", "member")
            page.locator('tr[data-user="charlie"] button:has-text("Change")').click()
            expect(page.locator("main")).to_contain_text("charlie is now member")
            shoot(page, "teams-team")
            page.goto(f"{base}/teams/")
            expect(page.locator("#teams")).to_contain_text("Night shift")
            shoot(page, "teams-list")

            # The newcomer's link (made here with a known token; the e-mail went to daphne's console).
            off_loop(
                lambda: Invitation.objects.create(
                    team=team, email="newbie@example.com", role="admin", token_hash=memberships.token_hash(token)
                )
            )
            newcomer = browser.new_page(viewport={"width": 1280, "height": 800})
            newcomer.on("pageerror", lambda exc: errors.append(str(exc)))
            newcomer.goto(f"{base}/invitations/{token}/")
            expect(newcomer.locator("#id_email")).to_have_value("newbie@example.com")
            shoot(newcomer, "teams-invitation-signup")
            newcomer.fill("#id_username", "newbie")
            newcomer.fill("#id_password", "a-long-passphrase-9")
            newcomer.fill("#id_password2", "a-long-passphrase-9")
            newcomer.click("button[type=submit]")
            expect(newcomer.locator("#invitation")).to_contain_text("Night shift")
            shoot(newcomer, "teams-invitation")
            newcomer.click("text=Accept and join Night shift")
            newcomer.wait_for_url(f"{base}/teams/night-shift/")
            expect(newcomer.locator("#members")).to_contain_text("newbie (you)")
            assert off_loop(lambda: Membership.objects.get(team=team, user__username="newbie").role) == "admin"
            newcomer.goto(f"{base}/invitations/{token}/")
            expect(newcomer.locator("body")).to_contain_text("already used")
            shoot(newcomer, "teams-invitation-gone")
            assert errors == []
        finally:
            browser.close()


def test_an_admin_makes_a_key_on_the_team_page_sees_it_once_and_revokes_it(crew: Crew):
    from authentication.models import ApiKey

    client = web(crew.users["admin"])
    r = client.post("/teams/ops/api-keys/", {"name": "deploys", "scope": "write"})
    assert r.status_code == 302 and r["Location"] == "/teams/ops/"
    key = ApiKey.objects.get(team=crew.team)
    html = client.get("/teams/ops/").content.decode()
    shown = re.search(r"<code>(pgk_[A-Za-z0-9_-]{43})</code>", html)
    assert shown and shown.group(1).startswith(key.prefix) and key.key_hash != shown.group(1)
    assert crew.client("viewer").get("/api/servers/", HTTP_X_API_KEY=shown.group(1)).status_code == 200
    again = client.get("/teams/ops/").content.decode()
    assert shown.group(1) not in again and f"{key.prefix}…" in again  # shown once
    assert [row.object_name for row in audit_rows("key_create")] == [str(key)]
    # Below admin: no section, and the forms refuse.
    assert "api-keys" not in web(crew.users["member"]).get("/teams/ops/").content.decode()
    assert web(crew.users["member"]).post("/teams/ops/api-keys/", {"name": "x", "scope": "read"}).status_code == 403
    assert web(crew.users["member"]).post(f"/teams/ops/api-keys/{key.pk}/revoke/").status_code == 403
    assert web(crew.users["stranger"]).post(f"/teams/ops/api-keys/{key.pk}/revoke/").status_code == 404
    assert client.post("/teams/ops/api-keys/", {"name": "", "scope": "admin"}).status_code == 400
    r = client.post(f"/teams/ops/api-keys/{key.pk}/revoke/")
    assert r.status_code == 302 and not ApiKey.objects.exists()
    assert crew.client("viewer").get("/api/servers/", HTTP_X_API_KEY=shown.group(1)).status_code == 401
