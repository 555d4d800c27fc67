"""A team in real Chromium (SPEC §17): a viewer watches the team's dashboard live while an owner
pauses and resumes a server, and finds no button on the server page that would be refused."""

from __future__ import annotations

import pytest
import requests
from django.conf import global_settings
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from authentication.models import Membership, Role, Team
from monitoring.models import Server
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser
from tests.test_web_browser import shoot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_viewer_follows_the_teams_dashboard_live_and_cannot_pause(alice, charlie):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):  # daphne's real hashers
        charlie.set_password("charlie-password-1")
        charlie.save()
    ops = Team.objects.create(name="Ops crew", slug="ops")
    Membership.objects.create(team=ops, user=alice, role=Role.OWNER)
    Membership.objects.create(team=ops, user=charlie, role=Role.VIEWER)
    server = Server.objects.create(owner=alice, team=ops, name="api", protocol="tcp", host="127.0.0.1", port=9)
    owner = {"Authorization": f"Bearer {AccessToken.for_user(alice)}"}
    with daphne() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=username]", "charlie")
            page.fill("input[name=password]", "charlie-password-1")
            # Signed in once the dashboard has loaded, its scripts too: the team switch submits
            # from app.js, so choosing a team before that load would change nothing.
            with page.expect_navigation():
                page.click("[type=submit]")
            with page.expect_navigation():
                page.select_option("#team-switch", "ops")
            row = page.locator(f'tr[data-server-id="{server.pk}"]')
            expect(row).to_contain_text("api")
            expect(page.locator("#feed")).to_have_text("live")
            # The owner pauses and resumes: no check runs, the status events alone move the row.
            assert requests.post(f"{base}/api/servers/{server.pk}/pause/", headers=owner, timeout=10).ok
            expect(row.locator(".status")).to_have_text("paused", timeout=10_000)
            assert requests.post(f"{base}/api/servers/{server.pk}/resume/", headers=owner, timeout=10).ok
            expect(row.locator(".status")).to_have_text("unknown", timeout=10_000)
            shoot(page, "team-viewer-dashboard")

            page.goto(f"{base}/servers/{server.pk}/")
            expect(page.locator("#pause")).to_be_disabled()
            expect(page.locator("#action-result")).to_contain_text("you can look, not change")
            shoot(page, "team-viewer-server")
            assert not errors, errors
        finally:
            browser.close()
