"""The server form's "Depends on" picker in real Chromium (SPEC §18): pick the router, save, and the
API shows the dependency; picking the server itself answers the API's 400 beside the field."""

from __future__ import annotations

import shutil

import pytest
from django.conf import global_settings
from django.test import override_settings

from monitoring.models import Server
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser
from tests.test_web_browser import SHOTS

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_picks_what_a_server_depends_on(alice):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):  # daphne's real hashers
        alice.set_password("alice-password-1")
        alice.save()
    router = Server.objects.create(owner=alice, name="router", protocol="tcp", host="127.0.0.1", port=9)
    app = Server.objects.create(owner=alice, name="app", protocol="tcp", host="127.0.0.1", port=9)
    with daphne() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password-1")
            page.click("[type=submit]")
            page.goto(f"{base}/servers/{app.pk}/edit/")
            field = page.locator('[data-field="depends_on"]')
            expect(field).to_contain_text("Depends on")
            page.fill("#f-depends_on", "app")  # itself first: the API refuses a cycle
            page.locator("#f-depends_on-list label", has_text="app").locator("input").check()
            page.click("#server-form [type=submit]")
            expect(page.locator("#err-depends_on")).to_contain_text("cannot depend on itself")
            page.locator("#f-depends_on-list label", has_text="app").locator("input").uncheck()
            page.fill("#f-depends_on", "router")
            page.locator("#f-depends_on-list label", has_text="router").locator("input").check()
            expect(field.locator(".chosen")).to_contain_text("router")
            for label, width in (("desktop", 1280), ("phone", 390)):
                page.set_viewport_size({"width": width, "height": 800})
                field.scroll_into_view_if_needed()
                page.screenshot(path=str(SHOTS / f"flood-depends-on-{label}.png"))
            page.set_viewport_size({"width": 1280, "height": 800})
            with page.expect_navigation():
                page.click("#server-form [type=submit]")
            assert not errors, errors
        finally:
            browser.close()
    assert list(app.depends_on.all()) == [router]  # outside Playwright's event loop
    shots = SHOTS.parent.parent.parent / "shots"
    if shots.is_dir():  # the session's screenshot folder, when there is one
        for label in ("desktop", "phone"):
            shutil.copy(SHOTS / f"flood-depends-on-{label}.png", shots / f"flood-depends-on-{label}.png")
