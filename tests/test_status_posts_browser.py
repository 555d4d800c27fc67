"""Incident posts in real Chromium (SPEC §21): an operator writes a post, adds an update and
resolves it from the page's posts page; a visitor's open public page shows each without a
reload, an announcement as a banner until its end, and the history page keeps every update."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import global_settings
from django.test import override_settings
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from monitoring.models import StatusPage
from monitoring.tests.factories import make_server
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser
from tests.test_web_browser import pick

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = Path(__file__).resolve().parents[2] / "shots"  # /work/wt/shots beside the worktrees


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in (("desktop", 1280), ("phone", 390)):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(SHOTS / f"posts-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_an_operator_posts_updates_and_resolves_while_a_visitor_watches(alice, monkeypatch):
    require_browser()
    monkeypatch.setenv("STATUS_PAGE_CACHE_SECONDS", "1")  # daphne inherits it: polled every 6 s
    from playwright.sync_api import expect, sync_playwright

    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):  # daphne's real hashers
        alice.set_password("alice-password-1")
        alice.save()
    status_page = StatusPage.objects.create(owner=alice, slug="acme", title="Acme", is_public=True)
    status_page.servers.add(make_server(alice, name="checkout-api"))
    token = {"Authorization": f"Bearer {AccessToken.for_user(alice)}"}
    with daphne() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            errors: list[str] = []
            visitor = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            visitor.on("pageerror", lambda exc: errors.append(str(exc)))
            visitor.goto(f"{base}/status/acme/")
            expect(visitor.locator("#posts-section")).to_be_hidden()

            operator = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            operator.on("pageerror", lambda exc: errors.append(str(exc)))
            operator.goto(f"{base}/accounts/login/")
            operator.fill("input[name=username]", "alice")
            operator.fill("input[name=password]", "alice-password-1")
            operator.click("[type=submit]")
            operator.goto(f"{base}/status-pages/")
            operator.get_by_role("link", name="Posts").click()
            operator.fill("#f-title", "Checkout is slow")
            operator.select_option("#f-impact", "major")
            operator.fill("#f-message", "We are looking into **slow** checkouts.\n\n- cards\n- vouchers")
            pick(operator, "checkout-api")
            shoot(operator, "operator-form")
            operator.get_by_role("button", name="Publish post").click()
            card = operator.locator("#open-posts .post", has_text="Checkout is slow")
            expect(card).to_contain_text("Investigating")

            # The visitor's page shows it without a reload, Markdown as HTML.
            post = visitor.locator("#posts .post", has_text="Checkout is slow")
            expect(post).to_be_visible(timeout=15_000)
            expect(post.locator(".message strong")).to_have_text("slow")
            expect(post).to_contain_text("checkout-api")

            card.locator("select[name=status]").select_option("identified")
            card.locator("textarea[name=message]").fill(
                "A slow <script>alert(1)</script> database [replica](javascript:alert(1))."
            )
            card.get_by_role("button", name="Add update").click()
            expect(card).to_contain_text("Identified")
            expect(post).to_contain_text("Identified", timeout=15_000)
            expect(post.locator(".message")).to_contain_text("<script>alert(1)</script>")  # shown as text
            expect(post.locator(".message")).to_contain_text("[replica](javascript:alert(1))")
            assert post.locator(".message script, .message a").count() == 0

            # An announcement with an end: a banner, gone once it has ended.
            ends = timezone.now() + timedelta(seconds=20)
            r = requests.post(
                f"{base}/api/status-pages/{status_page.pk}/announcements/",
                json={"notice": "Card payments *may* fail until 14:00.", "ends_at": ends.isoformat()},
                headers=token,
                timeout=10,
            )
            assert r.status_code == 201, r.text
            banner = visitor.locator("#announcements .announcement")
            expect(banner).to_contain_text("Card payments may fail", timeout=15_000)
            shoot(visitor, "public-open-post")
            expect(banner).to_have_count(0, timeout=25_000)
            expect(visitor.locator("#announcements")).to_be_hidden()

            card.get_by_role("button", name="Resolve").click()
            expect(operator.locator("#resolved-posts .post", has_text="Checkout is slow")).to_be_visible()
            expect(visitor.locator("#posts-section")).to_be_hidden(timeout=15_000)

            visitor.goto(f"{base}/status/acme/history/")
            resolved = visitor.locator("#history .post", has_text="Checkout is slow")
            expect(resolved.locator(".update")).to_have_count(3)
            expect(resolved).to_contain_text("This incident has been resolved.")
            shoot(visitor, "history")
            operator.goto(f"{base}/status-pages/{status_page.pk}/")
            expect(operator.locator("#resolved-posts .post")).to_have_count(1)
            shoot(operator, "operator-page")
            assert not errors, errors
        finally:
            browser.close()
