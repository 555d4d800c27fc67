"""The WebSocket feed /ws/status/ through the full ASGI stack (core.asgi), with WebsocketCommunicator."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from autobahn.twisted.websocket import WebSocketServerProtocol
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import Client

from conftest import require_redis
from monitoring.choices import PingStatus, Status
from monitoring.consumers import INTERRUPTED
from monitoring.models import PingResult, Server
from monitoring.services.engine import checks
from monitoring.services.live.fanout import fanout
from monitoring.services.live.publish import CHECKED, server_group
from monitoring.tests.factories import make_outcome
from tests.live import PATIENCE, group_members, token_for, ws_client

pytestmark = pytest.mark.usefixtures("transactional_db", "live_layer")


@pytest.fixture
def servers(alice: Any, charlie: Any) -> dict[str, Server]:
    return {
        "prod": Server.objects.create(owner=alice, name="Prod API", host="prod.example.com"),
        "staging": Server.objects.create(owner=alice, name="staging web", host="staging.example.com"),
        "charlies": Server.objects.create(owner=charlie, name="prod of charlie", host="c.example.com"),
    }


check = database_sync_to_async(checks.record_outcome)


async def connected(token: str | None, **kwargs: Any) -> Any:
    ws = ws_client(token, **kwargs)
    accepted, _ = await ws.connect()
    assert accepted
    return ws


async def ask(ws: Any, frame: dict[str, Any] | str) -> dict[str, Any]:
    await ws.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))
    return await ws.receive_json_from(timeout=PATIENCE)


async def test_a_connection_without_credentials_is_closed_with_4001(servers):
    ws = ws_client(None)
    accepted, _ = await ws.connect()
    assert accepted, "SPEC §5: the handshake is accepted, then closed"
    assert await ws.receive_output(timeout=PATIENCE) == {"type": "websocket.close", "code": 4001}
    await ws.disconnect()


@pytest.mark.parametrize("token", ["not-a-jwt", "Bearer", ""])
async def test_an_invalid_token_is_closed_with_4001(servers, token):
    ws = ws_client(None)
    ws.scope["headers"] = [(b"authorization", f"Bearer {token}".encode())]
    await ws.connect()
    assert await ws.receive_output(timeout=PATIENCE) == {"type": "websocket.close", "code": 4001}
    await ws.disconnect()


async def test_an_expired_token_is_closed_with_4001(servers, alice):
    ws = ws_client(token_for(alice, lifetime=-timedelta(seconds=1)))
    await ws.connect()
    assert await ws.receive_output(timeout=PATIENCE) == {"type": "websocket.close", "code": 4001}
    await ws.disconnect()


async def test_a_token_that_expires_while_connected_closes_the_socket_with_4001(servers, alice):
    # 4 s: long enough for the subscribe to be answered first on a loaded machine (1 s was not, in CI).
    ws = await connected(token_for(alice, lifetime=timedelta(seconds=4)))
    assert (await ask(ws, {"action": "subscribe"}))["type"] == "subscribed"
    assert await ws.receive_output(timeout=PATIENCE) == {"type": "websocket.close", "code": 4001}
    await ws.disconnect()  # what the server does after its close frame
    assert group_members(server_group(servers["prod"].pk)) == set()


async def test_a_token_in_the_query_string_authenticates(servers, alice):
    ws = await connected(token_for(alice), via="query")
    assert await ask(ws, {"action": "subscribe", "server_ids": [servers["prod"].pk]}) == {
        "type": "subscribed",
        "servers": [servers["prod"].pk],
    }
    await ws.disconnect()


async def test_the_session_cookie_authenticates(servers, alice):
    client = Client()
    await database_sync_to_async(client.force_login)(alice)
    ws = ws_client(None, origin="http://localhost:8000")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    ws.scope["headers"].append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    assert (await ws.connect())[0]
    reply = await ask(ws, {"action": "subscribe"})
    assert reply == {"type": "subscribed", "servers": sorted([servers["prod"].pk, servers["staging"].pk])}
    await ws.disconnect()


async def test_a_browser_on_a_foreign_origin_is_refused(servers, alice):
    ws = ws_client(token_for(alice), origin="http://evil.example.com")
    accepted, _ = await ws.connect()
    assert not accepted
    await ws.disconnect()


async def test_a_browser_on_an_allowed_host_and_a_program_without_origin_are_accepted(servers, alice):
    for origin in ("http://localhost:8000", None):
        ws = await connected(token_for(alice), origin=origin)
        assert (await ask(ws, {"action": "subscribe"}))["type"] == "subscribed"
        await ws.disconnect()


async def test_subscribe_leaves_out_other_users_servers(servers, alice):
    ws = await connected(token_for(alice))
    ids = [servers["charlies"].pk, servers["prod"].pk, 999_999]
    assert await ask(ws, {"action": "subscribe", "server_ids": ids}) == {
        "type": "subscribed",
        "servers": [servers["prod"].pk],
    }
    assert group_members(server_group(servers["charlies"].pk)) == set()
    await ws.disconnect()


async def test_staff_may_subscribe_to_any_server(servers, bob):
    ws = await connected(token_for(bob))
    reply = await ask(ws, {"action": "subscribe", "server_ids": [servers["charlies"].pk, servers["prod"].pk]})
    assert reply["servers"] == sorted([servers["charlies"].pk, servers["prod"].pk])
    await ws.disconnect()


async def test_subscribe_by_query_matches_names_case_insensitively(servers, alice):
    ws = await connected(token_for(alice))
    assert await ask(ws, {"action": "subscribe", "query": "PROD"}) == {
        "type": "subscribed",
        "servers": [servers["prod"].pk],  # not charlie's "prod of charlie"
    }
    await ws.disconnect()


async def test_an_update_frame_follows_each_check_of_a_subscribed_server(servers, alice):
    ws = await connected(token_for(alice))
    await ask(ws, {"action": "subscribe", "server_ids": [servers["prod"].pk]})
    record = await check(servers["prod"], make_outcome(ok=True))
    update = await ws.receive_json_from(timeout=PATIENCE)
    assert update["type"] == "update"
    assert update["ping"]["id"] == record.ping.pk and update["ping"]["status"] == PingStatus.SUCCESS
    assert update["status"]["server"] == servers["prod"].pk and update["status"]["status"] == Status.UP
    record = await check(servers["prod"], make_outcome(ok=False))
    update = await ws.receive_json_from(timeout=PATIENCE)
    assert (update["ping"]["id"], update["status"]["status"]) == (record.ping.pk, Status.DOWN)
    await ws.disconnect()


async def test_no_message_waits_for_channels_per_message_database_cleanup(servers, alice):
    # Issue 14 D.20: that cleanup runs on asgiref's one shared thread, where a connect storm
    # queued every handshake; handlers that query use database_sync_to_async, which cleans up.
    ws = await connected(token_for(alice))
    await ask(ws, {"action": "subscribe", "server_ids": [servers["prod"].pk]})
    with mock.patch("channels.consumer.aclose_old_connections", autospec=True) as cleanup:
        await check(servers["prod"], make_outcome())
        assert (await ws.receive_json_from(timeout=PATIENCE))["type"] == "update"
        assert cleanup.await_count == 0, "the update handler touches no database"
        await ask(ws, {"action": "subscribe", "server_ids": [servers["prod"].pk]})
        assert cleanup.await_count == 0, "client frames neither"
    await ws.disconnect()


async def test_clients_only_receive_updates_of_servers_they_subscribed_to(servers, alice, charlie):
    alices, charlies = await connected(token_for(alice)), await connected(token_for(charlie))
    await ask(alices, {"action": "subscribe", "server_ids": [servers["prod"].pk]})
    await ask(charlies, {"action": "subscribe", "server_ids": [servers["charlies"].pk, servers["prod"].pk]})
    await check(servers["prod"], make_outcome())
    await check(servers["staging"], make_outcome())
    assert (await alices.receive_json_from(timeout=PATIENCE))["status"]["server"] == servers["prod"].pk
    assert await alices.receive_nothing(timeout=0.3)
    assert await charlies.receive_nothing(timeout=0.3)
    await alices.disconnect()
    await charlies.disconnect()


async def test_unsubscribe_stops_the_updates(servers, alice):
    ws = await connected(token_for(alice))
    await ask(ws, {"action": "subscribe", "server_ids": [servers["prod"].pk, servers["staging"].pk]})
    reply = await ask(ws, {"action": "unsubscribe", "server_ids": [servers["prod"].pk, servers["charlies"].pk]})
    assert reply == {"type": "unsubscribed", "servers": [servers["prod"].pk]}
    await check(servers["prod"], make_outcome())
    assert await ws.receive_nothing(timeout=0.3)
    await check(servers["staging"], make_outcome())
    assert (await ws.receive_json_from(timeout=PATIENCE))["status"]["server"] == servers["staging"].pk
    await ws.disconnect()


async def test_an_event_already_in_flight_after_unsubscribe_is_dropped(servers, alice):
    ws = await connected(token_for(alice))
    await ask(ws, {"action": "subscribe", "server_ids": [servers["prod"].pk]})
    [consumer] = fanout().subscribers(server_group(servers["prod"].pk))
    await ask(ws, {"action": "unsubscribe"})
    record = await check(servers["prod"], make_outcome())
    event = {"type": CHECKED, "server_id": servers["prod"].pk, "ping": {"id": record.ping.pk}, "status": {}}
    await consumer.deliver(event)  # handed over by a fan-out pass that began before the unsubscribe
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_latest_answers_statuses_and_the_newest_pings(servers, alice):
    for ok in (True, True, False):
        await check(servers["prod"], make_outcome(ok))
    await check(servers["charlies"], make_outcome())
    newest = await database_sync_to_async(
        lambda: list(PingResult.objects.filter(server=servers["prod"]).order_by("-id").values_list("id", flat=True))
    )()
    ws = await connected(token_for(alice))
    reply = await ask(ws, {"action": "latest", "server_ids": [servers["prod"].pk, servers["charlies"].pk], "limit": 2})
    assert reply["type"] == "latest"
    assert [(s["server"], s["status"]) for s in reply["statuses"]] == [(servers["prod"].pk, Status.DOWN)]
    assert [p["id"] for p in reply["pings"]] == newest[:2]
    reply = await ask(ws, {"action": "latest", "query": "staging"})
    assert [s["server"] for s in reply["statuses"]] == [servers["staging"].pk] and reply["pings"] == []
    await ws.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        "[1, 2]",
        '"subscribe"',
        {"action": "dance"},
        {"server_ids": [1]},
        {"action": "subscribe", "server_ids": "1,2"},
        {"action": "subscribe", "server_ids": [True]},
        {"action": "subscribe", "server_ids": [-3]},
        {"action": "subscribe", "query": 42},
        {"action": "latest", "limit": "ten"},
        {"action": "latest", "limit": 10_000},
        {"action": "unsubscribe", "server_ids": [1.5]},
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(servers, alice, frame):
    ws = await connected(token_for(alice))
    reply = await ask(ws, frame)
    assert reply["type"] == "error" and reply["message"]
    assert (await ask(ws, {"action": "subscribe", "server_ids": [servers["prod"].pk]}))["type"] == "subscribed"
    await ws.disconnect()


async def test_a_binary_frame_gets_an_error(servers, alice):
    ws = await connected(token_for(alice))
    await ws.send_to(bytes_data=b"\x00\x01")
    assert (await ws.receive_json_from(timeout=PATIENCE))["type"] == "error"
    await ws.disconnect()


@pytest.mark.redis
async def test_an_idle_subscriber_outlives_the_redis_layers_blocking_pop(servers, alice):
    require_redis()
    if "Redis" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        pytest.skip("runs with CHANNEL_LAYER_TYPE=redis")
    ws = await connected(token_for(alice))
    await ask(ws, {"action": "subscribe", "server_ids": [servers["prod"].pk]})
    await asyncio.sleep(6)  # channels_redis blocks 5 s in BZPOPMIN; redis-py 8 used to time out then
    record = await check(servers["prod"], make_outcome())
    assert (await ws.receive_json_from(timeout=PATIENCE))["ping"]["id"] == record.ping.pk
    await ws.disconnect()


async def test_the_process_joins_each_group_once_and_leaves_it_after_the_last_disconnect(servers, alice):
    groups = [server_group(servers["prod"].pk), server_group(servers["staging"].pk)]
    sockets = [await connected(token_for(alice)) for _ in range(2)]
    for ws in sockets:
        await ask(ws, {"action": "subscribe"})
    assert [len(group_members(g)) for g in groups] == [1, 1], "one layer member per process"
    assert [len(fanout().subscribers(g)) for g in groups] == [2, 2]
    await sockets[0].disconnect()
    assert [len(group_members(g)) for g in groups] == [1, 1]
    await sockets[1].disconnect()
    assert [group_members(g) for g in groups] == [set(), set()]
    assert [fanout().subscribers(g) for g in groups] == [set(), set()]


async def test_a_socket_has_no_channel_of_its_own_on_the_layer(servers, alice):
    ws = await connected(token_for(alice))
    await ask(ws, {"action": "subscribe", "server_ids": [servers["prod"].pk]})
    [consumer] = fanout().subscribers(server_group(servers["prod"].pk))
    assert consumer.channel_layer is None, "events come through the fan-out; no receive pending per socket"
    await ws.disconnect()


async def test_a_crashed_consumer_leaves_the_fan_out(servers, alice):
    ws = await connected(token_for(alice))
    await ask(ws, {"action": "subscribe", "server_ids": [servers["prod"].pk]})
    with mock.patch("monitoring.services.live.feeds.server_ids", autospec=True, side_effect=RuntimeError("db down")):
        await ws.send_json_to({"action": "subscribe", "server_ids": [servers["staging"].pk]})
        with pytest.raises(RuntimeError):
            await ws.receive_output(timeout=PATIENCE)
    assert fanout().subscribers(server_group(servers["prod"].pk)) == set()
    assert group_members(server_group(servers["prod"].pk)) == set()


async def test_a_broken_channel_layer_makes_subscribers_reconnect(servers, alice):
    ws = await connected(token_for(alice))
    await ask(ws, {"action": "subscribe", "server_ids": [servers["prod"].pk]})
    layer = get_channel_layer()
    with mock.patch.object(layer, "receive", autospec=True, side_effect=ConnectionError("redis went away")):
        # The receive already waiting still delivers this check; the next one fails.
        await check(servers["prod"], make_outcome())
        assert (await ws.receive_json_from(timeout=PATIENCE))["type"] == "update"
        assert await ws.receive_output(timeout=PATIENCE) == {"type": "websocket.close", "code": INTERRUPTED}
    await ws.disconnect()
    assert fanout().subscribers(server_group(servers["prod"].pk)) == set()
    assert group_members(server_group(servers["prod"].pk)) == set()


def test_the_interrupted_close_code_is_one_daphne_can_send():
    # daphne closes through autobahn's sendClose, which raises on 1011/1012 and leaves the socket open.
    protocol = WebSocketServerProtocol()
    with mock.patch.object(protocol, "sendCloseFrame", autospec=True) as frame:
        protocol.sendClose(code=INTERRUPTED)
    frame.assert_called_once_with(code=INTERRUPTED, reasonUtf8=None, isReply=False)


async def test_a_subscribe_while_the_layer_is_down_closes_for_a_reconnect(servers, alice, monkeypatch):
    monkeypatch.setattr("monitoring.services.live.fanout.JOIN_TIMEOUT", 0.3)
    ws = await connected(token_for(alice))
    with mock.patch.object(get_channel_layer(), "group_add", autospec=True, side_effect=ConnectionError("refused")):
        await ws.send_json_to({"action": "subscribe", "server_ids": [servers["prod"].pk]})
        assert await ws.receive_output(timeout=PATIENCE) == {"type": "websocket.close", "code": INTERRUPTED}
    await ws.disconnect()
    assert fanout().subscribers(server_group(servers["prod"].pk)) == set()
