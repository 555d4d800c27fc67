"""Single sign-on in real Chromium (SPEC §17): the login page's button, through the provider
(tests/oidc_provider.py on 127.0.0.1) and back, onto the dashboard as a new user. The login
page with the button is photographed into logs/screens/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from authentication.models import Membership, OidcIdentity, Team
from tests.oidc_provider import OidcProvider
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "logs" / "screens"

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sso_button_signs_a_new_user_in_and_lands_on_the_dashboard(monkeypatch):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    Team.objects.create(name="Operations", slug="ops")
    with OidcProvider() as provider:
        provider.claims = {
            "sub": "browser-1",
            "email": "erin@example.com",
            "email_verified": True,
            "preferred_username": "erin",
            "groups": ["ops:member"],
        }
        # daphne inherits these.
        for name, value in provider.env(OIDC_DISPLAY_NAME="Example SSO", OIDC_TEAMS_CLAIM="groups").items():
            monkeypatch.setenv(name, value)
        with daphne() as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"{base}/")
                assert "/accounts/login/" in page.url
                button = page.locator("a.sso")
                expect(button).to_have_text("Sign in with Example SSO")
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / "login-sso-desktop.png"), full_page=True)
                page.set_viewport_size({"width": 390, "height": 800})
                page.screenshot(path=str(SHOTS / "login-sso-phone.png"), full_page=True)
                page.set_viewport_size({"width": 1280, "height": 800})

                button.click()
                page.wait_for_url(f"{base}/")
                expect(page.locator("main")).to_contain_text("No servers yet")
            finally:
                browser.close()
        assert "POST /token" in provider.requests
    identity = OidcIdentity.objects.select_related("user").get(issuer=provider.issuer, sub="browser-1")
    assert identity.user.username == "erin"
    membership = Membership.objects.get(user=identity.user, team__slug="ops")
    assert (membership.role, membership.from_claim) == ("member", True)
