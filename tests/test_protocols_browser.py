"""The server form for the kinds of SPEC §19 in real Chromium: each kind shows its own fields and
hides the others', a DNS check and a PostgreSQL check are added through it (the dsn never shown
back), and a field error lands beside its field. Screenshots go to /work/wt/shots when it exists,
else logs/screens/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import global_settings
from django.test import override_settings

from monitoring.models import Server
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path("/work/wt/shots") if Path("/work/wt/shots").is_dir() else ROOT / "logs" / "screens"

pytestmark = pytest.mark.django_db(transaction=True)

# Which fields each kind shows (the others' stay hidden): static/pulseguard/fields.js.
OWN = {
    "ping": ["host", "ping_count", "packet_loss_threshold"],
    "dns": ["host", "dns_record_type", "dns_resolver", "dns_expected"],
    "smtp": ["host", "port", "smtp_starttls", "verify_tls", "cert_expiry_alert_days"],
    "postgres": ["dsn", "db_query"],
    "grpc": ["host", "port", "grpc_service", "grpc_tls", "verify_tls"],
    "websocket": ["host", "port", "path", "ws_send", "ws_tls", "keyword", "assertions", "request_headers"],
    "tcp": ["host", "port", "tcp_send", "tcp_expect"],
}
ALL = sorted({name for names in OWN.values() for name in names} - {"host", "port", "verify_tls"})


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in (("desktop", 1280), ("phone", 390)):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(SHOTS / f"protocols-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def stored(name: str) -> Server:
    """The row as saved, read outside Playwright's event loop (the ORM refuses to run inside one)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: _read(name)).result()


def _read(name: str) -> Server:
    from django.db import connection

    try:
        return Server.objects.get(name=name)
    finally:
        connection.close()


def test_the_server_form_shows_each_kinds_fields_and_adds_them(alice):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        alice.set_password("alice-password-1")
        alice.save()
    with daphne() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            js_errors: list[str] = []
            page.on("pageerror", lambda exc: js_errors.append(str(exc)))
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password-1")
            page.click("[type=submit]")
            page.wait_for_url(re.compile(r"/$"))
            page.goto(f"{base}/servers/new/")
            for kind, own in OWN.items():
                page.select_option("#f-protocol", kind)
                for name in own:
                    expect(page.locator(f'[data-field="{name}"]')).to_be_visible()
                for name in set(ALL) - set(own):
                    expect(page.locator(f'[data-field="{name}"]')).to_be_hidden()
            expect(page.locator('[data-field="host"]')).to_be_visible()
            page.select_option("#f-protocol", "postgres")
            expect(page.locator('[data-field="host"]')).to_be_hidden()  # from the dsn
            expect(page.locator('[data-field="url"]')).to_be_hidden()  # pasting splits http(s) and tcp URLs only

            # A DNS check with a bad resolver: the error beside the field; then fixed.
            page.select_option("#f-protocol", "dns")
            page.fill("#f-name", "Mail exchangers")
            page.fill("#f-host", "example.com")
            page.select_option("#f-dns_record_type", "MX")
            page.fill("#f-dns_resolver", "dns.google")
            page.fill("#f-dns_expected", '["10 mail.example.com"]')
            shoot(page, "server-new-dns")
            page.click("text=Add server >> nth=-1")
            expect(page.locator("#err-dns_resolver")).to_contain_text("IP address")
            page.fill("#f-dns_resolver", "9.9.9.9")
            page.click("text=Add server >> nth=-1")
            page.wait_for_url(re.compile(r"/servers/\d+/$"))
            dns = stored("Mail exchangers")
            assert (dns.protocol, dns.dns_record_type, dns.dns_resolver) == ("dns", "MX", "9.9.9.9")
            assert dns.dns_expected == ["10 mail.example.com"]

            # A PostgreSQL check: host and port from the dsn, which the edit page never shows.
            page.goto(f"{base}/servers/new/")
            page.select_option("#f-protocol", "postgres")
            page.fill("#f-name", "Orders DB")
            page.fill("#f-dsn", "postgresql://monitor:pg-form-secret@db.example.com:6432/orders")
            shoot(page, "server-new-postgres")
            page.click("text=Add server >> nth=-1")
            page.wait_for_url(re.compile(r"/servers/\d+/$"))
            db = stored("Orders DB")
            assert (db.host, db.port) == ("db.example.com", 6432)
            page.goto(f"{base}/servers/{db.pk}/edit/")
            expect(page.locator("#f-name")).to_have_value("Orders DB")
            assert "pg-form-secret" not in page.content()
            expect(page.locator("#f-dsn")).to_have_value("")
            page.fill("#f-db_query", "SELECT count(*) FROM orders")
            page.click("text=Save changes >> nth=-1")
            page.wait_for_url(re.compile(r"/servers/\d+/$"))
            db = stored("Orders DB")
            assert db.db_query == "SELECT count(*) FROM orders" and "pg-form-secret" in db.dsn
            page.goto(f"{base}/servers/{db.pk}/")
            shoot(page, "server-detail-postgres")
            assert js_errors == []
        finally:
            browser.close()
