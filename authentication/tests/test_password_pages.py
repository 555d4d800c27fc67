"""The password pages (SPEC §17): change (the session that changed it stays signed in; every other
session, token and live feed ends) and reset by an e-mailed, single-use, expiring link."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail
from django.test import Client, override_settings
from rest_framework.test import APIClient

from authentication.web_account import valid_for
from conftest import client_for

pytestmark = pytest.mark.django_db

PASSWORD = "alice-password-1"
NEW = "a-brand-new-passphrase-7"


def signed_in(username: str = "alice", password: str = PASSWORD) -> Client:
    client = Client()
    assert client.post("/accounts/login/", {"username": username, "password": password}).status_code == 302
    return client


def change(client: Client, old: str = PASSWORD, new: str = NEW, again: str | None = None) -> Any:
    body = {"old_password": old, "new_password1": new, "new_password2": again or new}
    return client.post("/accounts/password/change/", body)


def test_the_login_page_links_to_the_reset_and_the_menu_to_the_change(alice):
    login = Client().get("/accounts/login/").content.decode()
    assert re.search(r'<a href="/accounts/password/reset/">Forgot password\?</a>', login)
    assert 'href="/accounts/password/change/"' in signed_in().get("/").content.decode()


def test_a_signed_in_browser_sent_to_the_login_page_goes_straight_back(alice):
    # A feed of a tab opened before this browser changed its password ends (its session key was
    # cycled) and app.js sends the tab to the login page: the cookie is good, so straight back.
    response = signed_in().get("/accounts/login/?next=/maintenance/")
    assert response.status_code == 302 and response["Location"] == "/maintenance/"


def test_the_change_page_needs_a_signed_in_user(db):
    response = Client().get("/accounts/password/change/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_password_change_keeps_this_session_and_ends_every_other_one_and_every_token(alice):
    changing, other = signed_in(), signed_in()
    pair = APIClient().post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json").json()
    page = changing.get("/accounts/password/change/")
    assert page.status_code == 200 and 'name="old_password"' in page.content.decode()

    done = change(changing)
    assert done.status_code == 302 and done["Location"] == "/accounts/password/change/done/"
    assert "Password changed" in changing.get(done["Location"]).content.decode()
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert changing.get("/api/auth/me/").status_code == 200, "the session that changed it stays signed in"
    assert other.get("/api/auth/me/").status_code in (401, 403)
    assert client_for(None).get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}").status_code == 401
    refresh = APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert refresh.status_code == 401


@pytest.mark.parametrize(
    ("old", "new", "again", "field"),
    [
        ("wrong", NEW, NEW, "old_password"),
        (PASSWORD, "123", "123", "new_password2"),
        (PASSWORD, NEW, "x", "new_password2"),
    ],
)
def test_a_wrong_current_password_a_weak_or_mistyped_new_one_changes_nothing(alice, old, new, again, field):
    client = signed_in()
    response = change(client, old, new, again)
    assert response.status_code == 200 and response.context["form"].errors[field]
    assert 'role="alert"' in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


@override_settings(
    PUBLIC_URL="https://status.example.com", EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"
)
def test_a_reset_link_is_e_mailed_and_works_once(alice):
    other = signed_in()
    page = Client().get("/accounts/password/reset/")
    assert page.status_code == 200 and 'name="email"' in page.content.decode()
    sent = Client().post("/accounts/password/reset/", {"email": "ALICE@example.com"})
    assert sent.status_code == 302 and sent["Location"] == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
    body = mail.outbox[0].body
    assert mail.outbox[0].subject == "Reset your PulseGuard password"
    link = re.search(r"https://status\.example\.com(/accounts/password/reset/\S+/)", body)
    assert link, body
    assert "within 3 days" in body

    browser = Client()
    form = browser.get(link.group(1))
    assert form.status_code == 302  # Django hides the token from the Referer: on to .../set-password/
    page = browser.get(form["Location"])
    assert "Choose a new password" in page.content.decode()
    done = browser.post(form["Location"], {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done["Location"] == "/accounts/password/reset/done/"
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert other.get("/api/auth/me/").status_code in (401, 403), "every earlier session ends"

    again = Client().get(link.group(1), follow=True)
    assert "This link no longer works" in again.content.decode()
    replay = Client().post(link.group(1), {"new_password1": "x-third-pass-9", "new_password2": "x-third-pass-9"})
    assert replay.status_code == 200 and "This link no longer works" in replay.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(NEW)


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend", PUBLIC_URL="")
def test_without_public_url_the_link_uses_the_requests_host(alice):
    Client().post("/accounts/password/reset/", {"email": "alice@example.com"}, HTTP_HOST="localhost")
    assert "http://localhost/accounts/password/reset/" in mail.outbox[0].body


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_an_unknown_address_looks_the_same_and_sends_nothing(alice):
    response = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    assert mail.outbox == []


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend", PASSWORD_RESET_TIMEOUT=3600)
def test_a_reset_link_expires_after_password_reset_timeout(alice, monkeypatch):
    Client().post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert "within 1 hour" not in mail.outbox[0].body and "within 60 minutes" in mail.outbox[0].body
    path = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", mail.outbox[0].body).group(1)
    later = datetime.now() + timedelta(seconds=3601)
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)
    assert "This link no longer works" in Client().get(path, follow=True).content.decode()


@override_settings(AUTH_THROTTLE_RATE="2/minute", EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_reset_requests_are_throttled(alice):
    codes = [Client().post("/accounts/password/reset/", {"email": "alice@example.com"}).status_code for _ in range(3)]
    assert codes == [302, 302, 429] and len(mail.outbox) == 2


def test_valid_for_reads_as_a_person_would_say_it():
    assert [valid_for(s) for s in (3 * 86400, 86400, 3600, 7200, 60, 30)] == [
        "3 days",
        "24 hours",
        "60 minutes",
        "2 hours",
        "1 minute",
        "30 seconds",
    ]


def test_an_email_change_on_the_account_page_needs_the_password_and_keeps_this_session(alice):
    changing, other = signed_in(), signed_in()
    refused = changing.post("/accounts/", {"action": "email", "email": "new@example.com", "current_password": "no"})
    assert refused.status_code == 400 and "The current password is wrong." in refused.content.decode()
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"
    done = changing.post("/accounts/", {"action": "email", "email": "new@example.com", "current_password": PASSWORD})
    assert done.status_code == 302
    alice.refresh_from_db()
    assert alice.email == "new@example.com" and alice.check_password(PASSWORD)
    assert changing.get("/api/auth/me/").status_code == 200
    assert other.get("/api/auth/me/").status_code in (401, 403)


@pytest.mark.usefixtures("transactional_db", "live_layer")
async def test_live_feeds_of_other_sessions_and_tokens_end_within_5_s_of_a_change_on_the_page(alice):
    from tests.live import close_worker_connections, token_for, ws_client

    async def socket(cookie: str | None = None, token: str | None = None) -> Any:
        ws = ws_client(token, origin="http://localhost:8000")
        if cookie:
            ws.scope["headers"].append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe"})
        assert (await ws.receive_json_from(timeout=3))["type"] == "subscribed"
        return ws

    try:
        changing, other = await database_sync_to_async(signed_in)(), await database_sync_to_async(signed_in)()
        cookie = {c: c.cookies[settings.SESSION_COOKIE_NAME].value for c in (changing, other)}
        others, by_token = await socket(cookie[other]), await socket(None, token_for(alice))
        response = await database_sync_to_async(change)(changing)
        assert response.status_code == 302
        for ws in (others, by_token):
            assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4001}
            await ws.disconnect()
        # The changing browser stays signed in under a new session key (update_session_auth_hash
        # cycles it): its pages' feeds connect again with it.
        mine = await socket(changing.cookies[settings.SESSION_COOKIE_NAME].value)
        await asyncio.sleep(settings.LIVE_REVALIDATE_SECONDS + 0.5)
        await mine.send_json_to({"action": "subscribe"})
        assert (await mine.receive_json_from(timeout=3))["type"] == "subscribed", "this session's feed goes on"
        await mine.disconnect()
    finally:
        await close_worker_connections()
