"""Issue 17's "done when", played in real Chromium against daphne with the embedded scheduler
(SPEC §19): a new user adds a ping, a DNS and a PostgreSQL monitor through the server form; each
shows UP on its page from the scheduler's own checks; its target stops and the page shows DOWN
within one check interval; the target comes back and the page shows UP again.

How each target "stops", all on the loopback interface:
- DNS: the test's own DNS server is stopped, then started again on the same port.
- PostgreSQL: the shared server cannot be stopped, so the dsn is edited (in the form) to a closed
  port, then back.
- ping: every 127.0.0.0/8 address answers and making one unreachable takes root network changes,
  so the host is edited (in the form) to 127.255.255.255, loopback's broadcast address, which never
  answers an echo request; then back to 127.0.0.1.

Screenshots go to /work/wt/shots/e2e17-*.png when that folder exists, else logs/screens/."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from conftest import subprocess_env
from tests.protocol_targets import LocalDNSServer
from tests.targets import free_port
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, require_browser

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path("/work/wt/shots") if Path("/work/wt/shots").is_dir() else ROOT / "logs" / "screens"
INTERVAL = 10  # the shortest check interval (models.servers.MIN_INTERVAL)
TIMEOUT = 3
# One interval until the next check, its timeout, and slack for a loaded two-core machine.
WITHIN_ONE_INTERVAL_MS = (INTERVAL + TIMEOUT + 7) * 1000
PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(420)]


@contextlib.contextmanager
def daphne_with_scheduler() -> Iterator[str]:
    """daphne on the test database with the scheduler inside it (PULSEGUARD_EMBEDDED_SCHEDULER)."""
    port = free_port()
    env = subprocess_env(PULSEGUARD_EMBEDDED_SCHEDULER="true", MONITOR_ALLOW_PRIVATE_TARGETS="true")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                if requests.get(f"{base}/api/health/", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in (("desktop", 1280), ("phone", 390)):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(SHOTS / f"e2e17-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_a_new_user_adds_ping_dns_and_postgres_monitors_that_go_down_and_come_back(dns_port_holder):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    dns = dns_port_holder
    with daphne_with_scheduler() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            js_errors: list[str] = []
            page.on("pageerror", lambda exc: js_errors.append(str(exc)))

            page.goto(f"{base}/accounts/register/")
            page.fill("#id_username", "newcomer17")
            page.fill("#id_email", "newcomer17@example.com")
            page.fill("#id_password", "a-long-passphrase-17")
            page.fill("#id_password2", "a-long-passphrase-17")
            page.click("button[type=submit]")
            expect(page.locator("main")).to_contain_text("No servers yet")

            def add(name: str, kind: str, fill: dict[str, str], shot: str) -> str:
                page.goto(f"{base}/servers/new/")
                page.fill("#f-name", name)
                page.select_option("#f-protocol", kind)
                for field, value in fill.items():
                    if field == "dns_record_type":
                        page.select_option(f"#f-{field}", value)
                    else:
                        page.fill(f"#f-{field}", value)
                page.fill("#f-check_interval", str(INTERVAL))
                page.fill("#f-timeout", str(TIMEOUT))
                shoot(page, f"new-{shot}")
                page.click("text=Add server >> nth=-1")
                page.wait_for_url(re.compile(r"/servers/\d+/$"))
                return page.url

            def edit(url: str, field: str, value: str) -> None:
                page.goto(f"{url}edit/")
                expect(page.locator("#f-name")).not_to_have_value("")
                page.fill(f"#f-{field}", value)
                page.click("text=Save changes >> nth=-1")
                page.wait_for_url(url)

            def shows(url: str, status: str, since: float) -> None:
                if page.url != url:
                    page.goto(url)
                left = WITHIN_ONE_INTERVAL_MS - (time.monotonic() - since) * 1000
                expect(page.locator("#status")).to_have_text(status, timeout=max(left, 1000))

            ping = add("Loopback ping", "ping", {"host": "127.0.0.1"}, "ping")
            resolver = add(
                "Local resolver",
                "dns",
                {
                    "host": "shop.example.test",
                    "dns_record_type": "A",
                    "dns_resolver": dns.address,
                    "dns_expected": '["10.17.0.1"]',
                },
                "dns",
            )
            database = add("Local PostgreSQL", "postgres", {"dsn": PG_DSN}, "postgres")
            added = time.monotonic()

            # The scheduler checks each soon after it is added: UP.
            for url in (ping, resolver, database):
                shows(url, "up", added + INTERVAL)
            page.goto(database)
            expect(page.locator("#heartbeat span.ok").first).to_be_visible()
            shoot(page, "postgres-up")
            page.goto(resolver)
            shoot(page, "dns-up")
            # The response-time scale's labels fit left of the axis ("12.5 ms" was cut to ".2.5 ms").
            start = time.time() - 3600
            buckets = [
                {"start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 300 * i)), "checks": 1,
                 "failures": 0, "response_time_avg": 23.0}
                for i in range(12)
            ]  # fmt: skip
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 800})
                page.evaluate(f"window.PGServer.drawChart({json.dumps(buckets)}, 300)")
                expect(page.locator("#chart text", has_text="12.5 ms")).to_have_count(1)
                lefts = page.eval_on_selector_all("#chart text", "ts => ts.map(t => t.getBBox().x)")
                assert min(lefts) >= 0, lefts
            page.set_viewport_size({"width": 1280, "height": 800})

            # DNS: the server stops; the next check finds no answer.
            dns.stop()
            stopped = time.monotonic()
            expect(page.locator("#status")).to_have_text("down", timeout=WITHIN_ONE_INTERVAL_MS)
            assert time.monotonic() - stopped <= WITHIN_ONE_INTERVAL_MS / 1000
            expect(page.locator("#message")).not_to_have_text("–")
            shoot(page, "dns-down")
            dns.start()
            shows(resolver, "up", time.monotonic())

            # PostgreSQL: the dsn now names a closed port.
            closed = free_port()
            edit(database, "dsn", PG_DSN.replace(":5432/", f":{closed}/"))
            shows(database, "down", time.monotonic())
            shoot(page, "postgres-down")
            edit(database, "dsn", PG_DSN)
            shows(database, "up", time.monotonic())

            # ping: an address on loopback that never answers, then back.
            edit(ping, "host", "127.255.255.255")
            shows(ping, "down", time.monotonic())
            expect(page.locator("#message")).to_have_text("no echo request could be sent to 127.255.255.255")
            shoot(page, "ping-down")
            edit(ping, "host", "127.0.0.1")
            shows(ping, "up", time.monotonic())
            shoot(page, "ping-up")

            page.goto(f"{base}/")
            for name in ("Loopback ping", "Local resolver", "Local PostgreSQL"):
                expect(page.locator("tr", has_text=name).locator(".status")).to_have_text("up")
            shoot(page, "dashboard")
            assert js_errors == []
        finally:
            browser.close()


class RestartableDNS:
    """The test's DNS server, stopped and started again on the same UDP port."""

    def __init__(self) -> None:
        self.server: LocalDNSServer | None = None
        self.port = 0
        self.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        server = LocalDNSServer()
        if self.port:
            server.sock.close()
            import socket

            server.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            server.sock.bind(("127.0.0.1", self.port))
            server.sock.settimeout(0.2)
            server.port = self.port
        self.port = server.port
        server.records[("shop.example.test", "A")] = ["10.17.0.1"]
        self.server = server.__enter__()

    def stop(self) -> None:
        assert self.server is not None
        self.server.__exit__(None, None, None)
        self.server = None


@pytest.fixture
def dns_port_holder() -> Iterator[RestartableDNS]:
    dns = RestartableDNS()
    try:
        yield dns
    finally:
        if dns.server is not None:
            dns.stop()
