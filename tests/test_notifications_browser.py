"""The Notifications page in Chromium (SPEC §18): a team config made once, attached to every
server, edited, and ticked already on the form of a new server when it is a default."""

from __future__ import annotations

import pytest
import requests
from django.conf import global_settings
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from monitoring.models import Server
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser
from tests.test_web_browser import shoot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_config_is_made_once_attached_to_all_and_ticked_on_a_new_server(alice):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):  # daphne's real hashers
        alice.set_password("alice-password-1")
        alice.save()
    servers = [
        Server.objects.create(owner=alice, name=name, protocol="tcp", host="127.0.0.1", port=9).pk
        for name in ("shop", "db")
    ]
    api = {"Authorization": f"Bearer {AccessToken.for_user(alice)}"}
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
            page.click("header nav >> text=Notifications")
            expect(page).to_have_url(f"{base}/notifications/")
            page.select_option("#f-notification_type", "email")
            page.fill("#f-recipient", "ops@example.com")
            page.check("#f-is_default")
            page.click("#config-form [type=submit]")
            row = page.locator("#configs tbody tr").first
            expect(row).to_contain_text("ops@example.com")
            expect(row).to_contain_text("0 servers · default")
            row.locator("text=Attach to all").click()
            expect(row).to_contain_text("2 servers · default")
            [config] = requests.get(f"{base}/api/notification-configs/", headers=api, timeout=10).json()["results"]
            assert sorted(config["servers"]) == sorted(servers)
            row.locator("text=Edit").click()
            page.locator('#f-events input[value="degraded"]').uncheck()
            page.click("#config-form [type=submit]")
            expect(row).not_to_contain_text("degraded")
            shoot(page, "notifyteam-notifications")
            events = requests.get(f"{base}/api/notification-configs/{config['id']}/", headers=api, timeout=10).json()
            assert "degraded" not in events["events"] and "down" in events["events"]

            page.goto(f"{base}/servers/new/")
            box = page.locator(f'#f-notification_configs input[value="{config["id"]}"]')
            expect(box).to_be_checked()
            shoot(page, "notifyteam-server-form")
            assert not errors, errors
        finally:
            browser.close()
