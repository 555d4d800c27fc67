"""The Locations page in real Chromium (SPEC §20): make a location, make an agent token and see
the exact run_agent command once; pick locations and a quorum in the server form and see each
location's state on the server page. Photographed into logs/screens/."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import global_settings
from django.db import connection
from django.test import override_settings

from monitoring.models import AgentToken, ProbeLocation, Server, ServerLocation
from monitoring.services.locations.agents import digest
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser
from tests.test_web_browser import shoot

pytestmark = pytest.mark.django_db(transaction=True)


def db(read: Callable[[], Any]) -> Any:
    """``read()`` on a thread of its own: Playwright's sync API runs an event loop in this one,
    where Django refuses the ORM."""

    def run() -> Any:
        try:
            return read()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def test_an_operator_adds_a_location_makes_a_token_and_checks_a_server_from_it(alice):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        alice.set_password("alice-password-1")
        alice.save()
    ProbeLocation.objects.local()  # made by the migration; an earlier transactional test flushed it
    with daphne() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password-1")
            page.click("[type=submit]")
            page.click("nav >> text=Locations")
            rows = page.locator("#location-list tbody tr")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("local")
            expect(rows.first).to_contain_text("shared")
            # Create a location.
            page.fill("#f-name", "Frankfurt")
            page.click("text=Add location")
            expect(rows).to_have_count(2)
            frankfurt = page.locator('#location-list tr[data-slug="frankfurt"]')
            expect(frankfurt).to_contain_text("Frankfurt")
            expect(frankfurt).to_contain_text("waiting for its agent")  # no agent has called yet
            assert db(lambda: ProbeLocation.objects.get(slug="frankfurt").team.personal_for_id) == alice.pk
            # Make an agent token: the command with it is shown once.
            frankfurt.locator("text=Agent tokens").click()
            expect(page.locator("#tokens-title")).to_have_text("Agent tokens of Frankfurt")
            page.fill("#token-name", "fra-1")
            page.click("text=Make token")
            command = page.locator("#agent-command-text")
            expect(command).to_have_value(
                re.compile(r"^python manage\.py run_agent --url http://127\.0\.0\.1:\d+ --token pga_")
            )
            raw = command.input_value().rsplit(" ", 1)[1]
            assert command.input_value().startswith(f"python manage.py run_agent --url {base} --token ")
            token = db(lambda: AgentToken.objects.get(location__slug="frankfurt"))
            assert token.key_hash == digest(raw) and token.name == "fra-1"
            expect(page.locator("#token-list tr[data-token-id]")).to_have_count(1)
            expect(page.locator("#token-list")).to_contain_text(raw[:12])
            expect(page.locator("#token-list")).not_to_contain_text(raw)
            page.click("#copy-command")
            expect(page.locator("#copy-result")).to_contain_text(re.compile("copied|selected"))
            shoot(page, "locations")
            # A reload never shows the token again.
            page.reload()
            page.locator('#location-list tr[data-slug="frankfurt"]').locator("text=Agent tokens").click()
            expect(page.locator("#token-list tr[data-token-id]")).to_have_count(1)
            expect(page.locator("#agent-command")).to_be_hidden()
            assert raw not in page.content()

            # The server form: checked from local and Frankfurt, in that order, DOWN from 1.
            page.goto(f"{base}/servers/new/")
            page.fill("#f-name", "Shop")
            page.fill("#f-host", "shop.example.com")
            picker = page.locator("#f-locations")
            expect(picker.locator('input[value="local"]')).to_be_checked()
            picker.locator('input[value="frankfurt"]').check()
            expect(picker.locator("li", has_text="Frankfurt")).to_contain_text("2.")
            page.fill("#f-quorum", "1")
            shoot(page, "server-form-locations")
            page.click("#server-form button[type=submit]")
            page.wait_for_url(re.compile(r"/servers/\d+/$"))
            server = db(lambda: Server.objects.get(name="Shop"))
            assert server.quorum == 1
            slugs = db(
                lambda: list(
                    ServerLocation.objects.filter(server=server)
                    .order_by("position")
                    .values_list("location__slug", flat=True)
                )
            )
            assert slugs == ["local", "frankfurt"]
            table = page.locator("table#locations tbody tr")
            expect(table).to_have_count(2)
            expect(table.nth(1)).to_contain_text("Frankfurt")
            expect(page.locator("body")).to_contain_text("DOWN when 1 of its 2 locations see it down")
            shoot(page, "server-locations")
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()
