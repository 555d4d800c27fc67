"""The ``location`` filter of the live feeds (SPEC §20): the WebSocket's subscribe and latest
frames and the SSE query take a location's slug; only checks run from there are sent."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from monitoring.models import ProbeLocation, Server, ServerLocation
from monitoring.services.engine.recording import CheckResult, record
from monitoring.tests.factories import make_outcome
from monitoring.tests.test_consumers import ask, connected
from tests.live import PATIENCE, SSEClient, token_for

pytestmark = pytest.mark.usefixtures("transactional_db", "live_layer")


@pytest.fixture
def world(alice: Any) -> dict[str, Any]:
    paris = ProbeLocation.objects.create(name="Paris", slug="paris", team=alice.personal_team)
    server = Server.objects.create(owner=alice, name="Prod", host="prod.example.com")
    ServerLocation.objects.create(server=server, location=ProbeLocation.objects.local(), position=0)
    ServerLocation.objects.create(server=server, location=paris, position=1)
    return {"server": server, "paris": paris}


def check_from(server: Server, location: ProbeLocation | None) -> None:
    # An agent's result sent with no lease (a buffered one) is recorded; None is the scheduler's own.
    record([CheckResult(server, make_outcome(ok=True), timezone.now(), location=location)])


async def test_a_websocket_subscribed_with_a_location_gets_only_its_checks(world, alice):
    server = world["server"]
    ws = await connected(token_for(alice))
    reply = await ask(ws, {"action": "subscribe", "server_ids": [server.pk], "location": "paris"})
    assert reply == {"type": "subscribed", "servers": [server.pk]}
    await database_sync_to_async(check_from)(server, None)  # from local: filtered out
    await database_sync_to_async(check_from)(server, world["paris"])
    frame = await ws.receive_json_from(timeout=PATIENCE)
    assert frame["type"] == "update" and frame["ping"]["location"] == "paris"
    latest = await ask(ws, {"action": "latest", "server_ids": [server.pk], "location": "local"})
    assert [p["location"] for p in latest["pings"]] == ["local"]
    await ws.disconnect()


@pytest.mark.parametrize("location", ["mars", "bad slug", 42])
async def test_a_websocket_asking_an_unknown_location_gets_an_error_frame(world, charlie, location):
    ws = await connected(token_for(charlie))
    for slug in (location, "paris"):  # paris is alice's team's: unknown to charlie
        reply = await ask(ws, {"action": "subscribe", "location": slug})
        assert reply["type"] == "error" and "location" in reply["message"].lower()
    await ws.disconnect()


async def test_the_sse_feed_filters_by_location(world, alice):
    server = world["server"]
    await database_sync_to_async(check_from)(server, None)
    await database_sync_to_async(check_from)(server, world["paris"])
    query = {"server_id": str(server.pk), "location": "paris"}
    async with SSEClient(query=query, headers={"Authorization": f"Bearer {token_for(alice)}"}) as sse:
        assert sse.status == 200
        _, _, pings = await sse.events(3)
        assert [p["location"] for p in pings.json()] == ["paris"]
        await database_sync_to_async(check_from)(server, None)
        await database_sync_to_async(check_from)(server, world["paris"])
        ping, _ = await sse.events(2)
        assert ping.event == "ping" and ping.json()[0]["location"] == "paris"


@pytest.mark.parametrize("slug", ["mars", "no spaces"])
async def test_the_sse_feed_answers_400_naming_location_for_an_unknown_one(world, charlie, slug):
    for user, asked in ((charlie, slug), (charlie, "paris")):
        async with SSEClient(query={"location": asked}, headers={"Authorization": f"Bearer {token_for(user)}"}) as sse:
            assert sse.status == 400
            assert list(await sse.json_body()) == ["location"]
