"""The /config/ page in Chromium shows import errors as readable lines (issue 14, C.13): each bad
item by its position and name, a YAML error by its line, no literal ``\\n`` or JSON; and through
daphne a YAML alias bomb is answered 400 by the node counter."""

from __future__ import annotations

import pytest
import requests
from django.conf import global_settings
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from api.tests.test_configuration import ALIAS_BOMB
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser

pytestmark = pytest.mark.django_db(transaction=True)


def test_import_errors_read_as_lines_and_a_bomb_is_refused(alice):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        alice.set_password("alice-password-1")
        alice.save()
    api = {"Authorization": f"Bearer {AccessToken.for_user(alice)}", "Content-Type": "application/yaml"}
    with daphne() as base, sync_playwright() as pw:
        r = requests.post(f"{base}/api/config/import/?dry_run=true", data=ALIAS_BOMB, headers=api, timeout=30)
        assert r.status_code == 400 and "nodes once its aliases are expanded" in r.json()["detail"]
        assert requests.get(f"{base}/api/health/", timeout=10).status_code == 200

        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/config/")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password-1")
            page.click("[type=submit]")
            page.goto(f"{base}/config/")
            bad = "version: 1\nservers:\n- {name: ok, protocol: tcp, host: db.example.com, port: 22}\n- name: db-7\n"
            page.fill("#import-text", bad)
            page.click("#import-form [type=submit]")
            result = page.locator("#import-result li")
            expect(result).to_have_count(1)
            expect(result).to_contain_text("servers [1] db-7 — host:")
            page.fill("#import-text", "version: 1\nservers:\n- name: [unclosed\n")
            page.click("#import-form [type=submit]")
            expect(result).to_contain_text("line 4, column 1:")
            text = result.inner_text()
            assert "\\n" not in text and "{" not in text and '"' not in text
        finally:
            browser.close()
