"""The SSE feed GET /api/events/status/, read as it streams from the real ASGI application."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from monitoring.choices import PingStatus, Status
from monitoring.models import PingResult, Server, ServerStatus
from monitoring.services.engine import checks
from monitoring.services.live.fanout import fanout
from monitoring.services.live.publish import STAFF_GROUP, server_group, team_group
from monitoring.tests.factories import make_outcome
from tests.live import SSEClient, eventually, group_members, token_for

pytestmark = pytest.mark.usefixtures("transactional_db", "live_layer")


@pytest.fixture
def servers(alice: Any, charlie: Any) -> dict[str, Server]:
    return {
        "prod": Server.objects.create(owner=alice, name="prod", host="prod.example.com"),
        "staging": Server.objects.create(owner=alice, name="staging", host="staging.example.com"),
        "charlies": Server.objects.create(owner=charlie, name="charlie's", host="c.example.com"),
    }


check = database_sync_to_async(checks.record_outcome)


def stream(user: Any, **query: Any) -> SSEClient:
    return SSEClient(query=query, headers={"Authorization": f"Bearer {token_for(user)}"})


async def snapshot(sse: SSEClient) -> tuple[Any, Any]:
    """Read ``retry``, then the status and ping snapshot events."""
    retry, states, pings = await sse.events(3)
    assert retry.retry == 5000
    assert (states.event, pings.event) == ("status", "ping")
    assert states.id == pings.id
    return states, pings


async def live_check(sse: SSEClient) -> tuple[Any, Any]:
    ping, state = await sse.events(2)
    assert (ping.event, state.event) == ("ping", "status")
    assert ping.id == state.id == str(ping.json()[0]["id"])
    return ping, state


@pytest.mark.parametrize("accept", ["text/event-stream", "application/json", "*/*"])
async def test_without_credentials_it_answers_401_whatever_the_accept(servers, accept):
    async with SSEClient(headers={"Accept": accept}) as sse:
        assert sse.status == 401
        assert "detail" in await sse.json_body()


@pytest.mark.parametrize("token", ["garbage", "expired"])
async def test_an_invalid_or_expired_token_answers_401(servers, alice, token):
    if token == "expired":
        token = token_for(alice, lifetime=-timedelta(seconds=1))
    for sse in (SSEClient(headers={"Authorization": f"Bearer {token}"}), SSEClient(query={"token": token})):
        async with sse:
            assert sse.status == 401


@pytest.mark.parametrize(
    "query, field",
    [
        ({"status": "sideways"}, "status"),
        ({"status": "up,nope"}, "status"),
        ({"server_id": "abc"}, "server_id"),
        ({"server_id": "1,-2"}, "server_id"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2025-13-45T99:00:00"}, "since"),
        ({"since": "2026-01-01T00:00:00-23:59"}, "since"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"status": "up\x00"}, "status"),
    ],
)
async def test_a_bad_query_value_answers_400_naming_it(servers, alice, query, field):
    async with stream(alice, **query) as sse:
        assert sse.status == 400
        body = await sse.json_body()
        assert list(body) == [field] and body[field][0]


async def test_a_bad_last_event_id_answers_400(servers, alice):
    async with SSEClient(headers={"Authorization": f"Bearer {token_for(alice)}", "Last-Event-ID": "x"}) as sse:
        assert sse.status == 400


async def test_it_sends_retry_then_a_snapshot_of_the_users_own_servers(servers, alice):
    for ok in (True, False, True):
        await check(servers["prod"], make_outcome(ok))
    other = await check(servers["charlies"], make_outcome())
    async with stream(alice, limit=2) as sse:
        assert sse.status == 200
        assert sse.response_headers["content-type"].startswith("text/event-stream")
        assert sse.response_headers["cache-control"] == "no-cache"
        states, pings = await snapshot(sse)
    newest = await database_sync_to_async(
        lambda: list(PingResult.objects.filter(server__owner=alice).order_by("-id").values_list("id", flat=True))
    )()
    assert [s["server"] for s in states.json()] == [servers["prod"].pk, servers["staging"].pk]
    assert [p["id"] for p in pings.json()] == newest[:2]
    assert states.id == str(newest[0]) and other.ping.pk > newest[0], "the id is the user's newest ping"


async def test_status_and_server_id_filter_the_snapshot(servers, alice):
    await check(servers["prod"], make_outcome(ok=False))
    await check(servers["staging"], make_outcome(ok=True))
    async with stream(alice, status="down") as sse:
        states, pings = await snapshot(sse)
    assert [(s["server"], s["status"]) for s in states.json()] == [(servers["prod"].pk, Status.DOWN)]
    assert {p["server"] for p in pings.json()} == {servers["prod"].pk}
    async with stream(alice, server_id=f"{servers['staging'].pk},{servers['charlies'].pk}") as sse:
        states, pings = await snapshot(sse)
    assert [s["server"] for s in states.json()] == [servers["staging"].pk]
    assert {p["server"] for p in pings.json()} == {servers["staging"].pk}


async def test_since_narrows_both_snapshots(servers, alice):
    await check(servers["prod"], make_outcome(), timezone.now() - timedelta(hours=2))
    await database_sync_to_async(
        lambda: ServerStatus.objects.filter(server=servers["prod"]).update(
            updated_at=timezone.now() - timedelta(hours=2)
        )
    )()
    await check(servers["staging"], make_outcome())
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    async with stream(alice, since=since) as sse:
        states, pings = await snapshot(sse)
    assert [s["server"] for s in states.json()] == [servers["staging"].pk]
    assert [p["server"] for p in pings.json()] == [servers["staging"].pk]


async def test_a_finished_check_is_pushed_as_a_ping_then_a_status_event(servers, alice):
    async with stream(alice) as sse:
        await snapshot(sse)
        record = await check(servers["prod"], make_outcome(ok=False))
        ping, state = await live_check(sse)
    assert ping.json() == [
        {
            "id": record.ping.pk,
            "server": servers["prod"].pk,
            "status": PingStatus.FAILURE,
            "response_time": None,
            "status_code": 500,
            "error_message": "HTTP 500",
            "check_timestamp": ping.json()[0]["check_timestamp"],
            "maintenance": False,
            "kind": "check",
            "body": "",
            "value": None,
            "detail": None,
            "location": "local",  # checked from the scheduler's own location (SPEC §20)
        }
    ]
    assert [(s["server"], s["status"], s["server_name"]) for s in state.json()] == [
        (servers["prod"].pk, Status.DOWN, "prod")
    ]


async def test_other_users_checks_are_not_streamed_but_staff_see_them(servers, alice, bob):
    async with stream(alice) as alices, stream(bob) as staff:
        await snapshot(alices)
        await snapshot(staff)
        record = await check(servers["charlies"], make_outcome())
        ping, _ = await live_check(staff)
        assert ping.json()[0]["id"] == record.ping.pk
        with pytest.raises(TimeoutError):
            await alices.next_event(timeout=0.3)


async def test_live_events_follow_the_status_filter(servers, alice):
    async with stream(alice, status="down") as sse:
        await snapshot(sse)
        await check(servers["prod"], make_outcome(ok=True))
        down = await check(servers["staging"], make_outcome(ok=False))
        ping, state = await live_check(sse)
        assert ping.json()[0]["id"] == down.ping.pk and state.json()[0]["status"] == Status.DOWN
        with pytest.raises(TimeoutError):
            await sse.next_event(timeout=0.3)


async def test_a_server_added_after_the_stream_opened_is_streamed_too(servers, alice):
    async with stream(alice) as sse:
        await snapshot(sse)
        new = await database_sync_to_async(Server.objects.create)(owner=alice, name="new", host="new.example.com")
        record = await check(new, make_outcome())
        ping, _ = await live_check(sse)
    assert ping.json()[0]["id"] == record.ping.pk


async def test_a_query_token_and_a_session_authenticate(servers, alice):
    async with SSEClient(query={"token": token_for(alice)}) as sse:
        assert sse.status == 200
        states, _ = await snapshot(sse)
    client = Client()
    await database_sync_to_async(client.force_login)(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    async with SSEClient(headers={"Cookie": cookie}) as sse:
        assert sse.status == 200
        again, _ = await snapshot(sse)
    assert again.json() == states.json()


async def test_a_reconnect_with_last_event_id_replays_exactly_what_was_missed(servers, alice):
    async with stream(alice) as sse:
        await snapshot(sse)
        await check(servers["prod"], make_outcome())
        seen, _ = await live_check(sse)
    missed = [
        await check(servers["prod"], make_outcome(ok=False)),
        await check(servers["staging"], make_outcome()),
        await check(servers["prod"], make_outcome(ok=True)),
    ]
    await check(servers["charlies"], make_outcome())
    headers = {"Authorization": f"Bearer {token_for(alice)}", "Last-Event-ID": seen.id}
    async with SSEClient(headers=headers) as sse:
        retry, *replayed = await sse.events(6)
        assert retry.retry == 5000
        assert [(e.event, e.id) for e in replayed] == [
            ("ping", str(missed[0].ping.pk)),
            ("ping", str(missed[1].ping.pk)),
            ("status", str(missed[1].ping.pk)),  # staging's last missed check
            ("ping", str(missed[2].ping.pk)),
            ("status", str(missed[2].ping.pk)),  # prod's last missed check: up again
        ]
        assert replayed[4].json()[0]["status"] == Status.UP
        live = await check(servers["staging"], make_outcome(ok=False))
        ping, _ = await live_check(sse)
        assert ping.id == str(live.ping.pk)


async def test_a_pause_is_pushed_and_replayed_as_a_status_event(servers, alice):
    async with stream(alice) as sse:
        _, pings = await snapshot(sse)
        await check(servers["prod"], make_outcome())
        seen, _ = await live_check(sse)
        await database_sync_to_async(checks.pause)(servers["prod"])
        [paused] = await sse.events(1)
        assert (paused.event, paused.id) == ("status", seen.id)
        assert paused.json()[0]["status"] == Status.PAUSED
    await database_sync_to_async(checks.pause)(servers["staging"])
    headers = {"Authorization": f"Bearer {token_for(alice)}", "Last-Event-ID": seen.id}
    async with SSEClient(headers=headers) as sse:
        _, *replayed = await sse.events(3)
    # Pauses after ping N come back at least once: prod's was seen live, staging's was missed.
    assert {(e.event, e.id) for e in replayed} == {("status", seen.id)}
    assert [(e.json()[0]["server"], e.json()[0]["status"]) for e in replayed] == [
        (servers["prod"].pk, Status.PAUSED),
        (servers["staging"].pk, Status.PAUSED),
    ]


@override_settings(SSE_REPLAY_MAX=2)
async def test_a_client_too_far_behind_gets_a_fresh_snapshot(servers, alice):
    first = await check(servers["prod"], make_outcome())
    for _ in range(3):
        await check(servers["staging"], make_outcome())
    headers = {"Authorization": f"Bearer {token_for(alice)}", "Last-Event-ID": str(first.ping.pk)}
    async with SSEClient(headers=headers) as sse:
        states, pings = await snapshot(sse)
    assert len(states.json()) == 2 and len(pings.json()) == 4


@override_settings(SSE_HEARTBEAT_SECONDS=0.2)
async def test_an_idle_stream_gets_heartbeat_comments(servers, alice):
    async with stream(alice) as sse:
        await snapshot(sse)
        beats = [await sse.next_event() for _ in range(2)]
    assert [b.comment for b in beats] == ["heartbeat", "heartbeat"]


async def test_a_stream_ends_when_its_token_expires(servers, alice):
    # 4 s: the snapshot comes first even on a loaded machine.
    headers = {"Authorization": f"Bearer {token_for(alice, lifetime=timedelta(seconds=4))}"}
    async with SSEClient(headers=headers) as sse:
        await snapshot(sse)
        with pytest.raises(EOFError):
            await sse.next_event()


async def test_a_broken_channel_layer_ends_the_stream_for_a_reconnect(servers, alice):
    async with stream(alice) as sse:
        await snapshot(sse)
        with mock.patch.object(get_channel_layer(), "receive", autospec=True, side_effect=ConnectionError("gone")):
            await check(servers["prod"], make_outcome())
            await live_check(sse)
            with pytest.raises(EOFError):
                await sse.next_event()


async def test_a_stream_too_far_behind_is_cut_off(servers, alice, monkeypatch):
    monkeypatch.setattr("monitoring.sse.QUEUE_MAX", 1)
    async with stream(alice) as sse:
        await snapshot(sse)
        [subscriber] = fanout().subscribers(team_group(alice.personal_team.pk))
        for _ in range(3):  # nothing reads the stream meanwhile
            await subscriber.deliver({"type": "server.status", "server_id": 0, "ping": None, "status": {}})
        with pytest.raises(EOFError):
            while True:
                await sse.next_event()


async def test_leaving_the_stream_empties_its_groups(servers, alice, bob):
    filtered = server_group(servers["prod"].pk)
    async with stream(alice) as mine, stream(bob) as staff, stream(alice, server_id=servers["prod"].pk) as one:
        for sse in (mine, staff, one):
            await snapshot(sse)
        assert [len(group_members(g)) for g in (team_group(alice.personal_team.pk), STAFF_GROUP, filtered)] == [1, 1, 1]
        assert [len(fanout().subscribers(g)) for g in (team_group(alice.personal_team.pk), STAFF_GROUP, filtered)] == [
            1,
            1,
            1,
        ]
    assert [group_members(g) for g in (team_group(alice.personal_team.pk), STAFF_GROUP, filtered)] == [
        set(),
        set(),
        set(),
    ]
    assert [fanout().subscribers(g) for g in (team_group(alice.personal_team.pk), STAFF_GROUP, filtered)] == [
        set(),
        set(),
        set(),
    ]


@pytest.mark.parametrize("failure", ["refused", "hangs"])
async def test_a_request_while_the_layer_is_down_answers_503_at_once(servers, alice, monkeypatch, failure):
    monkeypatch.setattr("monitoring.services.live.fanout.JOIN_TIMEOUT", 0.3)

    async def hang(*args: Any) -> None:
        await asyncio.sleep(60)

    effect = ConnectionError("redis refused") if failure == "refused" else hang
    with mock.patch.object(get_channel_layer(), "group_add", autospec=True, side_effect=effect):
        async with stream(alice) as sse:
            assert sse.status == 503
            assert sse.response_headers["retry-after"] == "5"
            assert "unavailable" in (await sse.json_body())["detail"]
    assert fanout().subscribers(team_group(alice.personal_team.pk)) == set()
    async with stream(alice) as sse:  # the layer is back: the next request streams
        await snapshot(sse)


async def test_a_client_gone_before_the_first_chunk_leaves_no_subscriber_behind(servers, alice):
    from django.http import StreamingHttpResponse

    from authentication.credentials import LiveCredentials
    from monitoring.sse import StatusStream, StreamParams

    stream = StatusStream(LiveCredentials(alice), StreamParams())
    await stream.join()
    assert len(fanout().subscribers(team_group(alice.personal_team.pk))) == 1
    response = StreamingHttpResponse(stream, content_type="text/event-stream")  # as the view answers it
    await asyncio.to_thread(response.close)  # what Django does when the client left; the generator never ran

    # Left locally, and the process has left the layer's group too: the leave has finished, so no
    # half-done group_discard is left for the loop's teardown to cancel (it hung there on Redis).
    async def left() -> bool:
        return not fanout().subscribers(team_group(alice.personal_team.pk)) and not await asyncio.to_thread(
            group_members, team_group(alice.personal_team.pk)
        )

    await eventually(left)
    assert fanout().subscribers(team_group(alice.personal_team.pk)) == set()
    assert await asyncio.to_thread(group_members, team_group(alice.personal_team.pk)) == set()
