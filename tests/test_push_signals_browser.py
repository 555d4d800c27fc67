"""A cron job wrapped as Healthchecks' documentation shows, seen on its server page in real Chromium
(SPEC §19): curl to /ping/<token>/start, then to /ping/<token>/$? with the job's output; the page
shows the run's time, the output as text (never as HTML) and a /log marked as a log."""

from __future__ import annotations

import time

import pytest
import requests
from django.conf import global_settings
from django.test import override_settings

from monitoring.choices import Protocol
from monitoring.models import Server
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_wrapped_cron_job_shows_its_run_time_output_and_logs(alice):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        alice.set_password("alice-password-1")
        alice.save()
    server = Server.objects.create(owner=alice, name="Nightly backup", protocol=Protocol.PUSH, check_interval=3600)
    output = "<script>window.__owned = 1</script>\nrsync: connection refused\n"
    with daphne() as base, sync_playwright() as pw:
        ping = f"{base}/ping/{server.push_token}"
        # What the wrapper does: curl -fsS -m 10 --retry 5 $URL/start; job; curl --data-raw "$out" $URL/$?
        assert requests.get(f"{ping}/start", timeout=10, allow_redirects=False).json() == {"ok": True}
        time.sleep(0.3)
        r = requests.post(f"{ping}/log/", data=b"step 1 of 2", timeout=10, allow_redirects=False)
        assert r.status_code == 200
        r = requests.post(
            f"{ping}/1",
            data=output.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
            allow_redirects=False,
        )
        assert r.status_code == 200 and r.json() == {"ok": True}
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
            expect(page.locator("#status")).to_have_text("down")
            # The run took at least the 0.3 s between /start and /1.
            run = page.locator("#response").inner_text()
            assert run.endswith("ms") and float(run.split()[0].replace(",", "")) >= 300, run
            expect(page.locator("#run-started")).to_have_text("not running")
            rows = page.locator("#checks tbody tr")
            expect(rows).to_have_count(2)
            failed, log = rows.nth(0), rows.nth(1)
            expect(failed.locator('[data-label="Result"]')).to_have_text("failure")
            expect(failed.locator('[data-label="Error"]')).to_have_text("exit status 1")
            failed.locator("summary").click()
            expect(failed.locator("pre")).to_have_text(output.rstrip("\n"))
            assert page.evaluate("window.__owned") is None  # shown as text, never run
            expect(log.locator('[data-label="Result"]')).to_have_text("log")
            expect(log).to_have_class("kind-log")
            expect(log.locator("summary")).to_have_text("step 1 of 2")
            # The log is no beat in the heartbeat bar: one check only.
            expect(page.locator("#heartbeat span")).to_have_count(1)
            assert js_errors == []
        finally:
            browser.close()
