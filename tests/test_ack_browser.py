"""Acknowledging in real Chromium (SPEC §18): the button on the server page's incident list and
on the incident list page, and the one-click link's page (GET shows, the button's POST acknowledges)."""

from __future__ import annotations

import pytest
import requests
from django.conf import global_settings
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from monitoring.models import Incident, Server
from monitoring.services.alerts.ack import ack_url_for
from monitoring.tests.alerting import go_down
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser
from tests.test_web_browser import SHOTS

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_acknowledges_on_the_server_page_and_the_link_page_works(alice):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):  # daphne's real hashers
        alice.set_password("alice-password-1")
        alice.save()
    server = Server.objects.create(owner=alice, name="api", protocol="tcp", host="127.0.0.1", port=9)
    other = Server.objects.create(owner=alice, name="db", protocol="tcp", host="127.0.0.1", port=9)
    third = Server.objects.create(owner=alice, name="queue", protocol="tcp", host="127.0.0.1", port=9)
    for down in (server, other, third):
        go_down(down)
    incident, link_incident = Incident.objects.get(server=server), Incident.objects.get(server=other)
    listed = Incident.objects.get(server=third)
    link = ack_url_for(link_incident).split("/ack/", 1)[1]
    auth = {"Authorization": f"Bearer {AccessToken.for_user(alice)}"}  # the ORM may not run inside Playwright's loop
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
            page.goto(f"{base}/servers/{server.pk}/")
            item = page.locator(f'#incidents li[data-incident="{incident.pk}"]')
            expect(item.locator("button.ack")).to_be_visible()
            shot(page, "escalation-server-incident")
            item.locator("input.ack-note").fill("looking into it")
            item.locator("button.ack").click()
            expect(page.locator(f'#incidents li[data-incident="{incident.pk}"]')).to_contain_text("acknowledged")
            expect(page.locator(f'#incidents li[data-incident="{incident.pk}"] button.ack')).to_have_count(0)
            page.locator(f'#incidents li[data-incident="{incident.pk}"] summary').click()
            expect(page.locator(f'#incidents li[data-incident="{incident.pk}"] .timeline')).to_contain_text(
                "looking into it"
            )
            shot(page, "escalation-server-acknowledged")

            # The incident list: every open incident of the team, each with its button.
            page.goto(f"{base}/incidents/")
            row = page.locator(f'#incidents-open li[data-incident="{listed.pk}"]')
            expect(row).to_contain_text("queue")
            expect(page.locator("#incidents-open button.ack")).to_have_count(2)  # db and queue; api is acknowledged
            shot(page, "escalation-incident-list")
            row.locator("button.ack").click()
            expect(page.locator(f'#incidents-open li[data-incident="{listed.pk}"]')).to_contain_text("acknowledged")
            expect(page.locator("#incidents-open button.ack")).to_have_count(1)

            # The link, in a browser with no session: GET shows, the button acknowledges.
            anon = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            anon.goto(f"{base}/ack/{link}")
            expect(anon.locator("#ack")).to_be_visible()
            shot(anon, "escalation-ack-link")
            seen = requests.get(f"{base}/api/incidents/{link_incident.pk}/", headers=auth, timeout=10).json()
            assert seen["acknowledged_at"] is None, "opening the link acknowledged nothing"
            anon.fill("#note", "on my way")
            anon.click("#ack")
            expect(anon.locator("#ack-done")).to_contain_text("Acknowledged")
            shot(anon, "escalation-ack-done")
            assert not errors, errors
        finally:
            browser.close()
    incident.refresh_from_db()
    link_incident.refresh_from_db()
    listed.refresh_from_db()
    assert listed.acknowledged_by == alice
    assert incident.acknowledged_by == alice and incident.timeline[-1]["note"] == "looking into it"
    assert link_incident.acknowledged_at is not None and link_incident.timeline[-1]["note"] == "on my way"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in (("desktop", 1280), ("phone", 390)):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
