"""The server page's notification form shows each channel's own fields (SPEC §18) and saves them."""

from __future__ import annotations

import pytest
from django.conf import global_settings
from django.test import override_settings

from monitoring.models import NotificationConfig
from monitoring.tests.factories import make_server
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser
from tests.test_web_browser import shoot

pytestmark = pytest.mark.django_db(transaction=True)


def visible(page, name: str) -> bool:
    return page.locator(f'#notification-form [data-field="{name}"]').is_visible()


def test_the_notification_form_shows_each_channels_fields_and_saves_a_telegram_config(alice):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        alice.set_password("alice-password-1")
        alice.save()
    server = make_server(alice, name="shop")
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
            page.wait_for_url(f"{base}/")
            page.goto(f"{base}/servers/{server.pk}/")
            kind = page.locator("#notification-form select[name=notification_type]")
            expect(kind).to_be_visible()
            # A webhook: a URL, no token box, no server URL.
            assert visible(page, "recipient") and not visible(page, "secret") and not visible(page, "api_base_url")
            kind.select_option("pagerduty")
            assert not visible(page, "recipient") and visible(page, "secret") and visible(page, "api_base_url")
            expect(page.locator('[data-field="api_base_url"] .help')).to_contain_text("https://events.pagerduty.com")
            kind.select_option("telegram")
            assert visible(page, "recipient") and visible(page, "secret") and visible(page, "title_template")
            expect(page.locator('[data-field="recipient"] .help')).to_contain_text("chat id")
            page.fill("#notification-form [name=recipient]", "-100123")
            page.fill("#notification-form [name=title_template]", "{nope}")
            page.click("#notification-form [type=submit]")
            # The API's 400 lands beside the field it names.
            expect(page.locator("#err-secret")).not_to_be_empty()
            expect(page.locator("#err-title_template")).to_contain_text("Unknown placeholder")
            page.fill("#notification-form [name=secret]", "1:bot-token")
            page.fill("#notification-form [name=title_template]", "{server.name} is {status}")
            shoot(page, "integrations-notification-form")
            page.click("#notification-form [type=submit]")
            expect(page.locator('#notifications tr >> text="telegram"')).to_be_visible()
            expect(page.locator("#secret-note")).to_be_hidden()  # the token was typed, not generated
            assert not errors, errors
        finally:
            browser.close()
    # The database after the browser is gone (Playwright's loop makes its thread look async to Django).
    config = NotificationConfig.objects.get(servers=server)
    assert (config.notification_type, config.recipient, config.secret) == ("telegram", "-100123", "1:bot-token")
    assert config.title_template == "{server.name} is {status}"
