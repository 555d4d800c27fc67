"""The audit log page in real Chromium (SPEC §17): changes made through the API show up, newest
first, with masked secrets and working filters; photographed into logs/screens/."""

from __future__ import annotations

import pytest
import requests
from django.conf import global_settings
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser
from tests.test_web_browser import shoot

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_owner_reads_the_audit_log_in_the_browser(alice):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        alice.set_password("alice-password-1")
        alice.save()
    api = {"Authorization": f"Bearer {AccessToken.for_user(alice)}"}
    with daphne() as base, sync_playwright() as pw:
        server = {"name": "Shop", "protocol": "https", "host": "shop.example.com", "basic_auth_username": "ops"}
        r = requests.post(f"{base}/api/servers/", json={**server, "basic_auth_password": "hunter2"}, headers=api)
        assert r.status_code == 201, r.text
        pk = r.json()["id"]
        patch = {"name": "Shop (EU)", "check_interval": 120, "basic_auth_password": "hunter3"}
        assert requests.patch(f"{base}/api/servers/{pk}/", json=patch, headers=api).ok
        assert requests.post(f"{base}/api/servers/{pk}/pause/", headers=api).ok
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password-1")
            page.click("[type=submit]")
            page.click("nav >> text=Audit log")
            rows = page.locator("table.audit tbody tr")
            expect(rows).to_have_count(3)
            expect(rows.nth(0)).to_contain_text("pause")
            expect(rows.nth(1)).to_contain_text("name: Shop → Shop (EU)")
            expect(rows.nth(1)).to_contain_text("basic_auth_password: •••• → ••••")
            expect(page.locator("body")).not_to_contain_text("hunter")
            # The create's many values fold away until asked for.
            expect(rows.nth(2).locator("details .diff")).not_to_be_visible()
            shoot(page, "audit")
            rows.nth(2).locator("summary").click()
            expect(rows.nth(2)).to_contain_text("basic_auth_password: – → ••••")
            page.select_option("select[name=action]", "update")
            page.click("text=Filter")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("update")
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()
