"""Pushed values on a push monitor's page in real Chromium (SPEC §19): a batch of pushes with
values through ``POST /api/push/``, then the page lists each result's value and charts their
average; the value that broke the monitor's assertion shows as a failure naming it. Screenshots
at desktop and phone width."""

from __future__ import annotations

import os

import pytest
import requests
from django.conf import global_settings
from django.test import override_settings

from monitoring.choices import Protocol
from monitoring.models import Server
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = "/work/wt/shots"


def test_a_push_monitors_page_shows_the_pushed_values(alice):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        alice.set_password("alice-password-1")
        alice.save()
    server = Server.objects.create(
        owner=alice,
        name="Disk use /",
        protocol=Protocol.PUSH,
        check_interval=300,
        assertions=[{"source": "value", "op": "<=", "value": 90}],
    )
    with daphne() as base, sync_playwright() as pw:
        batch = [{"token": server.push_token, "value": v} for v in (71.5, 80, 95.25)]
        r = requests.post(f"{base}/api/push/", json=batch, timeout=10, allow_redirects=False)
        assert r.status_code == 200 and r.json() == [{"ok": True}] * 3
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            js_errors: list[str] = []
            page.on("pageerror", lambda exc: js_errors.append(str(exc)))
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password-1")
            page.click("[type=submit]")
            page.goto(f"{base}/servers/{server.pk}/")
            rows = page.locator("#checks tbody tr")
            expect(rows).to_have_count(3)
            expect(rows.locator('[data-label="Value"]')).to_have_text(["95.25", "80", "71.5"])
            expect(rows.nth(0).locator('[data-label="Result"]')).to_have_text("failure")
            expect(rows.nth(0).locator('[data-label="Error"]')).to_have_text(
                "assertion failed: value <= 90 (got 95.25)"
            )
            expect(rows.nth(1).locator('[data-label="Result"]')).to_have_text("success")
            # The chart draws the values' average per bucket: one point, 82.25, over a 0–100 scale.
            point = page.locator("#chart circle.point")
            expect(point).to_have_count(1)
            expect(point.locator("title")).to_contain_text("82.25 (min 71.5, max 95.25)")
            expect(page.locator("#chart text").filter(has_text="100")).to_have_count(1)
            os.makedirs(SHOTS, exist_ok=True)
            page.screenshot(path=f"{SHOTS}/dbprobes-push-values-desktop.png", full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            expect(rows.nth(0).locator('[data-label="Value"]')).to_be_visible()
            page.screenshot(path=f"{SHOTS}/dbprobes-push-values-phone.png", full_page=True)
            assert js_errors == []
        finally:
            browser.close()
