"""A password change ends every session and token issued before it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.live import SSEClient, close_worker_connections

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-7"


def login(username: str, password: str) -> dict[str, str]:
    response = APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def change_password(client: Any) -> None:
    body = {"password": NEW_PASSWORD, "current_password": "alice-password-1"}
    response = client.patch("/api/auth/me/", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content


def test_a_password_change_ends_every_token_issued_before_it(alice):
    first, second = login("alice", "alice-password-1"), login("alice", "alice-password-1")
    assert bearer(second["access"]).get("/api/servers/").status_code == 200
    change_password(bearer(first["access"]))
    for pair in (first, second):
        assert bearer(pair["access"]).get("/api/servers/").status_code == 401
        refresh = APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
        assert refresh.status_code == 401, refresh.content
        verify = APIClient().post("/api/auth/token/verify/", {"token": pair["access"]}, format="json")
        assert verify.status_code == 401
    fresh = login("alice", NEW_PASSWORD)
    assert bearer(fresh["access"]).get("/api/servers/").status_code == 200
    assert APIClient().post("/api/auth/token/refresh/", {"refresh": fresh["refresh"]}, format="json").status_code == 200


def test_a_password_change_ends_other_sessions_but_keeps_the_one_that_changed_it(alice):
    changing, other = Client(), Client()
    for client in (changing, other):
        assert client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"}).status_code == 302
        assert client.get("/api/servers/").status_code == 200
    change_password(changing)
    assert changing.get("/api/servers/").status_code == 200
    assert other.get("/api/servers/").status_code == 401  # that session is logged out


@pytest.mark.usefixtures("transactional_db")
async def test_a_live_feed_refuses_a_token_from_before_the_change(alice):
    from asgiref.sync import sync_to_async

    try:
        pair = await sync_to_async(login)("alice", "alice-password-1")
        await sync_to_async(change_password)(bearer(pair["access"]))
        async with SSEClient(headers={"Authorization": f"Bearer {pair['access']}"}) as sse:
            assert sse.status == 401
    finally:
        # The worker threads' connections, or PostgreSQL's test database cannot be dropped at the end.
        await close_worker_connections()


def test_an_email_change_ends_every_token_and_other_session_too(alice):
    # SPEC §17: changing the e-mail (where password resets go) ends what was issued before it.
    pair = login("alice", "alice-password-1")
    changing, other = Client(), Client()
    for client in (changing, other):
        assert client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"}).status_code == 302
    body = {"email": "alice@new.example.com", "current_password": "alice-password-1"}
    response = changing.patch("/api/auth/me/", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    assert changing.get("/api/servers/").status_code == 200
    assert other.get("/api/servers/").status_code == 401
    assert bearer(pair["access"]).get("/api/servers/").status_code == 401
    refresh = APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert login("alice", "alice-password-1")["access"], "the password itself is unchanged"


@pytest.mark.usefixtures("transactional_db", "live_layer")
async def test_an_email_change_ends_an_open_live_feed_of_a_token_within_5_s(alice):
    # The e-mail change re-hashes the same password under a new salt (UserSerializer.validate):
    # the token's password fingerprint no longer matches, so the gate revokes its feed.
    from asgiref.sync import sync_to_async

    from tests.live import ws_client

    try:
        pair = await sync_to_async(login)("alice", "alice-password-1")
        ws = ws_client(pair["access"])
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe"})
        assert (await ws.receive_json_from(timeout=3))["type"] == "subscribed"
        body = {"email": "alice@new.example.com", "current_password": "alice-password-1"}
        client = bearer(pair["access"])
        response = await sync_to_async(client.patch)("/api/auth/me/", body, format="json")
        assert response.status_code == 200
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4001}
        await ws.disconnect()
    finally:
        await close_worker_connections()
