"""The dashboard in a real browser (headless Chromium via Playwright): log in, see your
servers, and watch one go from up to down live, without a reload.

daphne runs as a subprocess on a free loopback port against this test's database; the
check is run through the API inside daphne, so the in-memory channel layer carries it too.
Skips without Chromium, and fails instead when PULSEGUARD_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import global_settings
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from conftest import REQUIRE_SERVICES, subprocess_env
from monitoring.tests.factories import make_server
from tests.targets import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

pytestmark = pytest.mark.django_db(transaction=True)


def require_browser() -> None:
    missing = not Path(CHROMIUM).exists()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = True
    if missing:
        if REQUIRE_SERVICES:
            pytest.fail(f"Chromium ({CHROMIUM}) and playwright are required (PULSEGUARD_REQUIRE_SERVICES=1)")
        pytest.skip("Chromium or playwright not installed")


@contextlib.contextmanager
def daphne() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core.asgi:application"],
        cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):  # a loaded machine: try again
                if requests.get(f"{base}/api/health/", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_the_dashboard_shows_a_server_going_down_live(alice, charlie, http_target):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    # daphne checks passwords with the real hashers, not the tests' fast one.
    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        alice.set_password("alice-password-1")
        alice.save()
    http_target.set("/", 200, "ok")
    server = make_server(alice, name="shop-frontend", protocol="http", host="127.0.0.1", port=http_target.port)
    make_server(charlie, name="someone-elses")
    api = {"Authorization": f"Bearer {AccessToken.for_user(alice)}"}

    with daphne() as base, sync_playwright() as pw:
        assert requests.post(f"{base}/api/servers/{server.pk}/check/", headers=api, timeout=10).status_code == 200
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/")
            assert "/accounts/login/" in page.url  # anonymous users are sent to log in
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password-1")
            page.click("[type=submit]")
            row = page.locator(f'tr[data-server-id="{server.pk}"]')
            expect(row).to_contain_text("shop-frontend")
            expect(row.locator(".status")).to_have_text("up")
            expect(page.locator("body")).not_to_contain_text("someone-elses")
            page.evaluate("window.__noReload = true")

            http_target.set("/", 500, "broken")
            assert requests.post(f"{base}/api/servers/{server.pk}/check/", headers=api, timeout=10).ok
            expect(row.locator(".status")).to_have_text("down", timeout=10_000)
            # The counts per status on top follow too.
            expect(page.locator('.counts a[data-status="down"] strong')).to_have_text("1")
            expect(page.locator('.counts a[data-status="up"] strong')).to_have_text("0")
            expect(page.locator("#changes li").first).to_contain_text("shop-frontend up → down")
            assert page.evaluate("window.__noReload") is True, "the page was not reloaded"
            page.screenshot(path=str(ROOT / "logs" / "dashboard.png"), full_page=True)
        finally:
            browser.close()
