"""Live feeds end with the login behind them (issue 14 D.24, SPEC §23): within 5 s of a logout,
a password change, a deactivation or a loss of staff, both the WebSocket and the SSE feed stop.
Before, they streamed until the token expired (an hour), and a session socket for ever."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from monitoring.models import Server
from tests.live import SSEClient, close_worker_connections, token_for, ws_client

pytestmark = pytest.mark.usefixtures("transactional_db", "live_layer")

WITHIN = 5.0


@pytest.fixture(autouse=True)
async def _close_connections() -> Any:
    yield
    await close_worker_connections()


@pytest.fixture
def servers(alice: Any, charlie: Any) -> dict[str, Server]:
    return {
        "alices": Server.objects.create(owner=alice, name="alice's", host="a.example.com"),
        "charlies": Server.objects.create(owner=charlie, name="charlie's", host="c.example.com"),
    }


async def logged_in(user: Any) -> Client:
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    return client


async def session_socket(client: Client) -> Any:
    ws = ws_client(None, origin="http://localhost:8000")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    ws.scope["headers"].append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    assert (await ws.connect())[0]
    assert (await ask(ws, {"action": "subscribe"}))["type"] == "subscribed"  # authenticated by now
    return ws


async def token_socket(user: Any) -> Any:
    ws = ws_client(token_for(user))
    assert (await ws.connect())[0]
    assert (await ask(ws, {"action": "subscribe"}))["type"] == "subscribed"  # authenticated by now
    return ws


async def ask(ws: Any, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send_to(text_data=json.dumps(frame))
    return await ws.receive_json_from(timeout=3)


async def closed_within(ws: Any, seconds: float = WITHIN) -> None:
    assert await ws.receive_output(timeout=seconds) == {"type": "websocket.close", "code": 4001}
    await ws.disconnect()


async def update_user(user: Any, **fields: Any) -> None:
    await database_sync_to_async(User.objects.filter(pk=user.pk).update)(**fields)


async def test_a_session_socket_closes_after_its_logout(servers, alice):
    client = await logged_in(alice)
    ws = await session_socket(client)
    await database_sync_to_async(client.post)("/accounts/logout/")
    await closed_within(ws)


async def test_another_session_of_the_same_user_stays_open_after_a_logout(servers, alice):
    leaving, staying = await logged_in(alice), await logged_in(alice)
    gone, kept = await session_socket(leaving), await session_socket(staying)
    await database_sync_to_async(leaving.post)("/accounts/logout/")
    await closed_within(gone)
    assert (await ask(kept, {"action": "subscribe"}))["type"] == "subscribed"
    await kept.disconnect()


async def test_a_deactivated_former_staff_users_socket_closes(servers, bob):
    ws = await token_socket(bob)
    reply = await ask(ws, {"action": "latest"})
    assert {s["server"] for s in reply["statuses"]} >= {servers["charlies"].pk}, "staff see everyone's"
    await update_user(bob, is_staff=False, is_active=False)
    await closed_within(ws)


async def test_losing_staff_alone_closes_the_socket(servers, bob):
    ws = await token_socket(bob)
    await update_user(bob, is_staff=False)
    await closed_within(ws)


async def test_a_password_change_closes_token_and_session_sockets_and_sse(servers, alice):
    client = await logged_in(alice)
    by_session, by_token = await session_socket(client), await token_socket(alice)
    headers = {"Authorization": f"Bearer {token_for(alice)}"}
    async with SSEClient(headers=headers) as sse:
        await sse.events(3)  # retry and the snapshot
        user = await database_sync_to_async(User.objects.get)(pk=alice.pk)
        user.set_password("a-brand-new-passphrase-7")
        await database_sync_to_async(user.save)()
        await asyncio.gather(closed_within(by_session), closed_within(by_token))
        with pytest.raises(EOFError):
            await sse.events(1, timeout=WITHIN)


async def test_an_sse_stream_ends_after_its_sessions_logout(servers, alice):
    client = await logged_in(alice)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    async with SSEClient(headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"}) as sse:
        assert sse.status == 200
        await sse.events(3)
        await database_sync_to_async(client.post)("/accounts/logout/")
        with pytest.raises(EOFError):
            await sse.events(1, timeout=WITHIN)


async def test_an_unchanged_user_keeps_streaming(servers, alice):
    ws = await token_socket(alice)
    await asyncio.sleep(settings.LIVE_REVALIDATE_SECONDS * 2 + 0.5)  # two re-reads
    assert (await ask(ws, {"action": "subscribe"}))["type"] == "subscribed"
    await ws.disconnect()


async def test_a_database_outage_at_connect_asks_clients_to_retry(servers, alice):
    # The credential cannot be read: not "you are logged out" (4001, 401) but "retry shortly".
    from unittest import mock

    from django.db import OperationalError

    from authentication import credentials
    from monitoring.consumers import INTERRUPTED

    with mock.patch.object(credentials, "read_state", autospec=True, side_effect=OperationalError("gone")):
        ws = ws_client(token_for(alice))
        assert (await ws.connect())[0]
        assert await ws.receive_output(timeout=3) == {"type": "websocket.close", "code": INTERRUPTED}
        await ws.disconnect()
        async with SSEClient(headers={"Authorization": f"Bearer {token_for(alice)}"}) as sse:
            assert sse.status == 503 and int(sse.response_headers["retry-after"]) > 0
