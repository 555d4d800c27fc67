"""Live feeds with team API keys, and feeds that follow their user's teams (SPEC §17, §23).

A key (Bearer, X-Api-Key or ``?token=``) opens the WebSocket and the SSE feed as its team; a
revoked key ends them within 5 s. A user removed from a team (or added to one) has their open
feeds end within 5 s, and reconnects into the new scope.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import override_settings

from authentication import keys
from authentication.credentials import authenticate
from authentication.models import ApiKey, Membership, Role, Team
from monitoring.models import Server
from monitoring.services.engine import checks
from monitoring.services.live.fanout import fanout
from monitoring.services.live.publish import team_group
from monitoring.tests.factories import make_outcome
from tests.live import PATIENCE, SSEClient, close_worker_connections, token_for, ws_client

pytestmark = pytest.mark.usefixtures("transactional_db", "live_layer")

WITHIN = 5.0
check = database_sync_to_async(checks.record_outcome)


@pytest.fixture(autouse=True)
async def _close_connections() -> Any:
    yield
    await close_worker_connections()


@pytest.fixture
def team(alice: Any) -> Team:
    return Team.objects.get(personal_for=alice)


@pytest.fixture
def servers(alice: Any, charlie: Any) -> dict[str, Server]:
    return {
        "alices": Server.objects.create(owner=alice, name="alice's", host="a.example.com"),
        "charlies": Server.objects.create(owner=charlie, name="charlie's", host="c.example.com"),
    }


@pytest.fixture
def key(team: Team, alice: Any) -> tuple[ApiKey, str]:
    return keys.create(team, "dashboard", ApiKey.Scope.READ, alice)


def key_socket(raw: str, via: str) -> Any:
    if via == "x-api-key":
        ws = ws_client(None)
        ws.scope["headers"].append((b"x-api-key", raw.encode()))
        return ws
    return ws_client(raw, via=via)


async def ask(ws: Any, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send_to(text_data=json.dumps(frame))
    return await ws.receive_json_from(timeout=PATIENCE)


async def opened(ws: Any) -> Any:
    assert (await ws.connect())[0]
    assert (await ask(ws, {"action": "subscribe"}))["type"] == "subscribed"  # authenticated by now
    return ws


async def closed_within(ws: Any, seconds: float = WITHIN) -> None:
    assert await ws.receive_output(timeout=seconds) == {"type": "websocket.close", "code": 4001}
    await ws.disconnect()


async def snapshot(sse: SSEClient) -> tuple[Any, Any]:
    retry, states, pings = await sse.events(3)
    assert retry.retry == 5000 and (states.event, pings.event) == ("status", "ping")
    return states, pings


# --- Authenticating a feed with a key.


async def test_the_credential_helper_takes_a_key_from_each_place(key, team):
    _, raw = key
    for creds in (
        await authenticate(f"Bearer {raw}", None, None),
        await authenticate(None, raw, None),
        await authenticate(None, None, None, raw),
    ):
        assert creds.ok and creds.user.api_key.team_id == team.pk and creds.user.pk is None
        assert creds.expires_at is None and creds.key_hash == keys.digest(raw)
    for bad in ("pgk_" + "A" * 43, "pgk_nope", "nope"):
        assert not (await authenticate(None, None, None, bad)).ok
    assert not (await authenticate(f"Bearer pgk_{'B' * 43}", None, None)).ok


@pytest.mark.parametrize("via", ["header", "query", "x-api-key"])
async def test_a_key_opens_the_websocket_as_its_team(servers, key, via):
    ws = await opened(key_socket(key[1], via))
    assert (await ask(ws, {"action": "subscribe"}))["servers"] == [servers["alices"].pk]
    latest = await ask(ws, {"action": "latest"})
    assert [s["server"] for s in latest["statuses"]] == [servers["alices"].pk]
    await check(servers["charlies"], make_outcome())
    await check(servers["alices"], make_outcome(ok=False))
    update = await ws.receive_json_from(timeout=PATIENCE)
    assert update["type"] == "update" and update["ping"]["server"] == servers["alices"].pk
    await ws.disconnect()


async def test_an_unknown_or_revoked_key_closes_the_websocket_with_4001(servers, key):
    stored, raw = key
    await database_sync_to_async(stored.delete)()
    for ws in (key_socket(raw, "header"), key_socket("pgk_" + "A" * 43, "x-api-key")):
        assert (await ws.connect())[0]
        assert await ws.receive_output(timeout=PATIENCE) == {"type": "websocket.close", "code": 4001}
        await ws.disconnect()


@pytest.mark.parametrize("where", ["query", "header", "x-api-key"])
async def test_a_key_opens_the_sse_stream_as_its_team(servers, key, team, where):
    _, raw = key
    sse = {
        "query": SSEClient(query={"token": raw}),
        "header": SSEClient(headers={"Authorization": f"Bearer {raw}"}),
        "x-api-key": SSEClient(headers={"X-Api-Key": raw}),
    }[where]
    async with sse:
        assert sse.status == 200
        states, _ = await snapshot(sse)
        assert [s["server"] for s in states.json()] == [servers["alices"].pk]
        assert len(fanout().subscribers(team_group(team.pk))) == 1, "the unfiltered stream joins the key's team"
        await check(servers["charlies"], make_outcome())
        record = await check(servers["alices"], make_outcome())
        ping, _ = await sse.events(2)
        assert ping.json()[0]["id"] == record.ping.pk


async def test_an_unknown_key_answers_401_on_the_sse_stream(servers):
    for sse in (SSEClient(query={"token": "pgk_" + "A" * 43}), SSEClient(headers={"X-Api-Key": "pgk_x"})):
        async with sse:
            assert sse.status == 401


# --- Revocation.


async def test_a_revoked_key_ends_its_websockets_and_streams_within_5_s(servers, key):
    stored, raw = key
    by_header, by_query = await opened(key_socket(raw, "header")), await opened(key_socket(raw, "query"))
    async with SSEClient(query={"token": raw}) as sse:
        await snapshot(sse)
        await database_sync_to_async(ApiKey.objects.filter(pk=stored.pk).delete)()
        await asyncio.gather(closed_within(by_header), closed_within(by_query))
        with pytest.raises(EOFError):
            await sse.events(1, timeout=WITHIN)


async def test_revoking_one_key_leaves_the_teams_other_keys_streaming(servers, key, team, alice):
    stored, raw = key
    _, other = await database_sync_to_async(keys.create)(team, "other", ApiKey.Scope.READ, alice)
    gone, kept = await opened(key_socket(raw, "header")), await opened(key_socket(other, "header"))
    await database_sync_to_async(ApiKey.objects.filter(pk=stored.pk).delete)()
    await closed_within(gone)
    await asyncio.sleep(settings.LIVE_REVALIDATE_SECONDS + 0.5)
    assert (await ask(kept, {"action": "subscribe"}))["type"] == "subscribed"
    await kept.disconnect()


async def test_an_unrevoked_key_keeps_streaming_and_is_noted_as_used(servers, key):
    stored, raw = key
    ws = await opened(key_socket(raw, "header"))
    await asyncio.sleep(settings.LIVE_REVALIDATE_SECONDS * 2 + 0.5)  # two re-reads
    assert (await ask(ws, {"action": "subscribe"}))["type"] == "subscribed"
    await ws.disconnect()
    row = await database_sync_to_async(ApiKey.objects.get)(pk=stored.pk)
    assert row.last_used_at is not None


# --- A user's feeds follow their teams.


@pytest.fixture
def charlie_in_alices_team(team: Team, charlie: Any) -> Membership:
    return Membership.objects.create(team=team, user=charlie, role=Role.MEMBER)


async def test_a_user_removed_from_a_team_has_their_feeds_end_within_5_s(servers, charlie, charlie_in_alices_team):
    ws = await opened(ws_client(token_for(charlie)))
    assert set((await ask(ws, {"action": "subscribe"}))["servers"]) == {servers["alices"].pk, servers["charlies"].pk}
    async with SSEClient(headers={"Authorization": f"Bearer {token_for(charlie)}"}) as sse:
        states, _ = await snapshot(sse)
        assert {s["server"] for s in states.json()} == {servers["alices"].pk, servers["charlies"].pk}
        await database_sync_to_async(Membership.objects.filter(pk=charlie_in_alices_team.pk).delete)()
        await closed_within(ws)
        with pytest.raises(EOFError):
            await sse.events(1, timeout=WITHIN)
    again = await opened(ws_client(token_for(charlie)))  # the reconnect: the new scope
    assert (await ask(again, {"action": "subscribe"}))["servers"] == [servers["charlies"].pk]
    await again.disconnect()


async def test_a_user_added_to_a_team_reconnects_into_it(servers, charlie, team):
    ws = await opened(ws_client(token_for(charlie)))
    await database_sync_to_async(Membership.objects.create)(team=team, user=charlie, role=Role.VIEWER)
    await closed_within(ws)
    again = await opened(ws_client(token_for(charlie)))
    assert set((await ask(again, {"action": "subscribe"}))["servers"]) == {servers["alices"].pk, servers["charlies"].pk}
    await again.disconnect()


async def test_a_change_of_role_alone_keeps_the_feed(servers, charlie, charlie_in_alices_team):
    ws = await opened(ws_client(token_for(charlie)))
    await database_sync_to_async(Membership.objects.filter(pk=charlie_in_alices_team.pk).update)(role=Role.VIEWER)
    await asyncio.sleep(settings.LIVE_REVALIDATE_SECONDS * 2 + 0.5)
    assert (await ask(ws, {"action": "subscribe"}))["type"] == "subscribed"
    await ws.disconnect()


async def test_a_staff_user_keeps_the_feed_whatever_their_teams(servers, bob, team):
    ws = await opened(ws_client(token_for(bob)))
    await database_sync_to_async(Membership.objects.create)(team=team, user=bob, role=Role.MEMBER)
    await asyncio.sleep(settings.LIVE_REVALIDATE_SECONDS * 2 + 0.5)
    assert (await ask(ws, {"action": "subscribe"}))["type"] == "subscribed"
    await ws.disconnect()


async def test_a_feeds_scope_is_the_teams_it_is_watched_with(servers, charlie, team):
    """A team joined after the feed opened stays out of it until the reconnect: joined and left
    again between two re-reads, it would otherwise stay in the feed with nothing to notice it."""
    with override_settings(LIVE_REVALIDATE_SECONDS=60):  # no re-read during the test
        ws = await opened(ws_client(token_for(charlie)))
        joined = await database_sync_to_async(Membership.objects.create)(team=team, user=charlie, role=Role.MEMBER)
        assert (await ask(ws, {"action": "subscribe"}))["servers"] == [servers["charlies"].pk]
        latest = await ask(ws, {"action": "latest"})
        assert [s["server"] for s in latest["statuses"]] == [servers["charlies"].pk]
        await database_sync_to_async(joined.delete)()
        await ws.disconnect()
