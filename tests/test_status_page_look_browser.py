"""A status page's look and its subscribers in real Chromium (SPEC §21): the operator lays out
groups with display names, uploads a logo, picks a colour and sees subscribers; a visitor sees
that look (never the real names) and subscribes from the page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import global_settings
from django.test import override_settings
from django.utils import timezone

from monitoring.models import Server, StatusPage, Subscriber
from monitoring.tests.factories import make_server
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser
from tests.test_web_browser import SHOTS, shoot

pytestmark = pytest.mark.django_db(transaction=True)

LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40" width="40" height="40" onload="alert(1)">'
    '<circle cx="20" cy="20" r="18" fill="#8250df"/><script>alert(2)</script></svg>'
)
# The brief's shared folder for the lead's review, beside logs/screens.
SHARED_SHOTS = Path("/work/wt/shots")


def keep(name: str) -> None:
    if SHARED_SHOTS.is_dir():
        for label in ("desktop", "phone"):
            shutil.copy(SHOTS / f"{name}-{label}.png", SHARED_SHOTS / f"{name}-{label}.png")


def test_the_operator_styles_a_page_and_a_visitor_subscribes(alice, tmp_path):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):  # daphne's real hashers
        alice.set_password("alice-password-1")
        alice.save()
    db, web = make_server(alice, name="db-primary-7"), make_server(alice, name="web-eu-3")
    status_page = StatusPage.objects.create(owner=alice, slug="acme", title="Acme status", is_public=True)
    Subscriber.objects.create(page=status_page, kind="email", target="fan@example.com", confirmed_at=timezone.now())
    logo = tmp_path / "logo.svg"
    logo.write_text(LOGO)
    with daphne() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password-1")
            page.click("[type=submit]")
            page.goto(f"{base}/status-pages/")
            row = page.locator("#pages tbody tr", has_text="Acme status")
            expect(row).to_contain_text("1")  # one confirmed subscriber
            row.get_by_role("button", name="Edit").click()
            expect(page.locator("#page-extras")).to_be_visible()

            def add_group(group: str, server: Server, shown: str) -> None:
                page.click("#add-group")
                editor = page.locator(".group-editor").last
                editor.get_by_label("Group name", exact=True).fill(group)
                editor.get_by_role("button", name="Add server").click()
                editor.get_by_label("Server", exact=True).last.select_option(str(server.pk))
                editor.get_by_label("Display name", exact=True).last.fill(shown)

            # A group laid out, then the page's settings saved before the layout: that save
            # redraws the form and must keep the layout being edited.
            add_group("Core", db, "Database")
            page.fill("#f-accent_color", "#8250df")
            page.fill("#f-footer_text", "Questions? support@acme.example")
            page.eval_on_selector("#page-form [type=submit]", "b => b.dataset.before = '1'")
            with page.expect_response(lambda r: r.request.method == "PATCH") as saved:
                page.get_by_role("button", name="Save page").click()
            assert saved.value.status == 200, saved.value.text()
            expect(page.locator("#page-form [data-before]")).to_have_count(0)  # the form, redrawn from the answer
            expect(page.locator("#f-accent_color")).to_have_value("#8250df")
            expect(page.locator(".group-editor").get_by_label("Group name", exact=True)).to_have_value("Core")
            add_group("Edge", web, "Website")
            page.click("#save-layout")
            expect(page.locator("#layout-result")).to_have_text("Saved.")
            page.set_input_files("#logo-file", str(logo))
            page.get_by_role("button", name="Upload").click()
            expect(page.locator("#logo-preview")).to_be_visible()
            subscribers = page.locator("#subscribers tbody")
            expect(subscribers).to_contain_text("fan@example.com")
            expect(page.locator("#subscriber-count")).to_have_text("(1 confirmed)")
            shoot(page, "pagelook-operator")
            keep("pagelook-operator")
            subscribers.get_by_role("button", name="Delete").click()
            expect(subscribers).to_contain_text("No subscribers yet.")

            page.goto(f"{base}/status/acme/")
            expect(page.locator("#servers")).to_contain_text("Database")
            names = page.locator("#servers .group-name")
            expect(names).to_have_text(["Core", "Edge"])
            expect(page.locator("#logo")).to_be_visible()
            expect(page.locator("#footer-text")).to_have_text("Questions? support@acme.example")
            content = page.content()
            assert "db-primary-7" not in content and "web-eu-3" not in content
            colour = page.locator("#subscribe button").evaluate("b => getComputedStyle(b).backgroundColor")
            assert colour == "rgb(130, 80, 223)"
            page.fill("#subscribe-email", "visitor@example.com")
            page.click("#subscribe button")
            expect(page.locator("#subscribe-result")).to_have_text("Check your inbox for a confirmation link.")
            # The page keeps its groups when it refreshes itself from the summary JSON.
            page.evaluate(
                "() => fetch('/api/status-pages/acme/summary/').then(r => r.json()).then(window.renderStatusPage)"
            )
            expect(names).to_have_text(["Core", "Edge"])
            shoot(page, "pagelook-public")
            keep("pagelook-public")
            assert not errors, errors
        finally:
            browser.close()
    # (The ORM only now: Playwright's sync API runs an event loop, where Django refuses queries.)
    [visitor] = Subscriber.objects.all()  # the operator deleted fan@, the visitor signed up
    assert (visitor.target, visitor.confirmed_at) == ("visitor@example.com", None)
    status_page.refresh_from_db()
    assert [g["name"] for g in status_page.groups] == ["Core", "Edge"] and status_page.logo_type == "image/svg+xml"
    assert b"alert" not in bytes(status_page.logo)
