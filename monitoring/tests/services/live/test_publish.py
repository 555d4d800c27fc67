"""Publishing finished checks to the channel layer: once, after commit, from every caller."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from monitoring.choices import PingStatus, Protocol, Status
from monitoring.models import PingResult, Server
from monitoring.services.engine import checks
from monitoring.services.engine.transitions import ProbeOutcome
from monitoring.services.live.fanout import ROUTED, routes
from monitoring.services.live.publish import CHECKED, STAFF_GROUP, STATUS, server_group, team_group
from monitoring.tasks import claims
from monitoring.tasks.engine import run_check, run_once
from tests.live import PATIENCE, eventually, fresh_channel_layer
from tests.targets import closed_port

STRAGGLERS = 0.3  # seconds to wait for a message beyond those expected


@pytest.fixture(autouse=True)
def _layer() -> Iterator[None]:
    with fresh_channel_layer():
        yield


@pytest.fixture
def listen() -> Iterator[Callable[..., str]]:
    """``listen(*groups)``: a new channel on the layer joined to ``groups``; they are left afterwards."""
    joined: list[tuple[str, str]] = []

    async def join(*groups: str) -> str:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, channel)
            joined.append((group, channel))
        return channel

    yield async_to_sync(join)

    async def leave() -> None:
        for group, channel in joined:
            await get_channel_layer().group_discard(group, channel)

    async_to_sync(leave)()


def receive_all(channel: str, expect: int) -> list[dict[str, Any]]:
    """Every message on ``channel``: up to PATIENCE seconds for the ``expect`` messages the test
    expects, then STRAGGLERS seconds for any more (which the test then sees as one too many).

    Call it once per channel: the Redis layer binds a channel's receive buffer to the event
    loop that first waited on it, and each ``async_to_sync`` call runs its own loop.
    """

    async def collect() -> list[dict[str, Any]]:
        layer, found = get_channel_layer(), []
        while True:
            try:
                wait = PATIENCE if len(found) < expect else STRAGGLERS
                found.append(await asyncio.wait_for(layer.receive(channel), wait))
            except TimeoutError:
                return found

    return async_to_sync(collect)()


def drain(channel: str, expect: int) -> list[dict[str, Any]]:
    """The events the messages on ``channel`` carry, unpacked as a process's fan-out does
    (``fanout.routes``), each with the group it came for; ``expect``: messages."""
    return [
        {**event, "group": group}
        for m in receive_all(channel, expect)
        for group, events in routes(m)
        for event in events
    ]


@pytest.fixture
def web(alice: Any, http_target: Any) -> Server:
    http_target.set("/", 200, "ok")
    return Server.objects.create(
        owner=alice, name="web", protocol=Protocol.HTTP, host="127.0.0.1", port=http_target.port, timeout=10
    )


def ok() -> ProbeOutcome:
    return ProbeOutcome(status=PingStatus.SUCCESS, response_time=12.5, status_code=200)


def test_a_check_publishes_its_ping_and_status_once_after_commit(web, django_capture_on_commit_callbacks, listen):
    channel = listen(server_group(web.pk))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record = run_check(web)
    assert len(callbacks) == 1
    callbacks[0]()
    # Exactly one event after running only the on-commit callback: nothing went out before it.
    [event] = drain(channel, expect=1)
    assert event["type"] == CHECKED and event["server_id"] == web.pk
    assert event["ping"]["id"] == record.ping.pk and event["ping"]["status"] == PingStatus.SUCCESS
    assert event["status"]["server"] == web.pk and event["status"]["status"] == Status.UP
    assert event["status"]["server_name"] == "web"
    assert json.loads(event["frame"]) == {"type": "update", "ping": event["ping"], "status": event["status"]}


def test_the_event_reaches_the_owner_and_staff_groups_too(web, django_capture_on_commit_callbacks, listen):
    owners, staff = listen(team_group(web.team_id)), listen(STAFF_GROUP)
    with django_capture_on_commit_callbacks(execute=True):
        checks.record_outcome(web, ok())
    assert [e["server_id"] for e in drain(owners, expect=1)] == [web.pk]
    assert [e["server_id"] for e in drain(staff, expect=1)] == [web.pk]


def test_a_rolled_back_check_publishes_nothing(web, django_capture_on_commit_callbacks, listen):
    channel = listen(server_group(web.pk))
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        checks.record_outcome(web, ok())
        raise RuntimeError("the caller failed after recording")
    assert callbacks == []
    assert drain(channel, expect=0) == []


def test_a_failed_publish_is_logged_and_the_check_is_kept(web, caplog, django_capture_on_commit_callbacks):
    dead_redis = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{closed_port()}/0"]},
        }
    }
    caplog.set_level(logging.WARNING, logger="monitoring.services.live.publish")
    with override_settings(CHANNEL_LAYERS=dead_redis), django_capture_on_commit_callbacks(execute=True):
        record = run_check(web)
    assert PingResult.objects.filter(pk=record.ping.pk, server=web).exists()
    assert Server.objects.get(pk=web.pk).status == Status.UP
    assert any(
        "live_publish_failed" in r.getMessage() and f"server_ids={web.pk}" in r.getMessage() for r in caplog.records
    )


def test_pause_and_resume_publish_a_status_without_a_ping(web, django_capture_on_commit_callbacks, listen):
    channel = listen(server_group(web.pk))
    with django_capture_on_commit_callbacks(execute=True):
        checks.pause(web)
        checks.pause(web)  # no flip, no event
        checks.resume(web)
    events = drain(channel, expect=2)
    assert [(e["type"], e["ping"], e["status"]["status"]) for e in events] == [
        (STATUS, None, Status.PAUSED),
        (STATUS, None, Status.UNKNOWN),
    ]


def test_the_api_check_action_publishes(web, alice_client, django_capture_on_commit_callbacks, listen):
    channel = listen(server_group(web.pk))
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/api/servers/{web.pk}/check/")
    assert response.status_code == 200
    assert [e["ping"]["id"] for e in drain(channel, expect=1)] == [response.json()["id"]]


def test_check_servers_publishes_each_check(web, django_capture_on_commit_callbacks, listen):
    channel = listen(server_group(web.pk))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("check_servers", "--server", str(web.pk), "--concurrency", "1", stdout=io.StringIO())
    pings = list(PingResult.objects.filter(server=web).values_list("pk", flat=True))
    assert [e["ping"]["id"] for e in drain(channel, expect=len(pings))] == pings != []


def test_a_scheduler_step_publishes_what_it_checks(web, django_capture_on_commit_callbacks, listen):
    channel = listen(server_group(web.pk))
    with django_capture_on_commit_callbacks(execute=True):
        owner = claims.new_owner()
        summary = run_once(claims.claim_due(timezone.now(), owner=owner), concurrency=1, claimed_by=owner)
    assert summary.checked == 1
    [event] = drain(channel, expect=1)
    assert event["ping"]["id"] == summary.records[0].ping.pk


def test_a_recorded_batch_is_one_message_per_process_channel(alice, django_capture_on_commit_callbacks, listen):
    """Issue 20: a process watching many servers of a batch gets one message, not one per group."""
    from monitoring.services.engine.recording import CheckResult, record

    servers = [
        Server.objects.create(owner=alice, name=f"b{n}", protocol=Protocol.HTTP, host="127.0.0.1", port=80)
        for n in range(40)
    ]
    team = team_group(alice.personal_team.pk)
    dashboard = listen(team, *(server_group(s.pk) for s in servers[:30]))  # a process with both kinds
    single = listen(server_group(servers[1].pk))
    outcome = ProbeOutcome(PingStatus.SUCCESS, response_time=3.0, status_code=200)
    with django_capture_on_commit_callbacks(execute=True):
        records = record([CheckResult(s, outcome, timezone.now()) for s in servers])
    [message] = receive_all(dashboard, expect=1)
    assert message["type"] == ROUTED
    assert [e["ping"]["id"] for e in message["events"]] == [r.ping.pk for r in records], "each event once, in order"
    assert all(e["type"] == CHECKED and e["status"]["status"] == Status.UP for e in message["events"])
    unpacked = dict(routes(message))
    assert [e["server_id"] for e in unpacked[team]] == [s.pk for s in servers]
    assert [e["server_id"] for e in unpacked[server_group(servers[7].pk)]] == [servers[7].pk]
    assert set(unpacked) == {team, *(server_group(s.pk) for s in servers[:30])}
    [one] = drain(single, expect=1)
    assert one["type"] == CHECKED and one["server_id"] == servers[1].pk and one["group"] == server_group(servers[1].pk)


def test_the_fanout_hands_each_event_of_a_message_to_its_groups_subscribers_in_order():
    from monitoring.services.live.fanout import Fanout

    class Collect:
        def __init__(self) -> None:
            self.got: list[dict[str, Any]] = []

        async def deliver(self, event: dict[str, Any]) -> None:
            self.got.append(event)

        async def interrupted(self) -> None:  # pragma: no cover - not reached
            raise AssertionError

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        layer = get_channel_layer()
        fan, owner, other = Fanout(layer), Collect(), Collect()
        await fan.join("owner.7", owner)
        await fan.join("server.2", other)
        events = [{"type": CHECKED, "server_id": n, "ping": {"id": n}} for n in (1, 2, 3)]
        groups = [["owner.7", [0, 1, 2]], ["server.2", [1]], ["server.9", [2]]]  # nobody here watches server.9
        await layer.send(fan.channel, {"type": ROUTED, "events": events, "groups": groups})
        await eventually(lambda: len(owner.got) == 3 and len(other.got) == 1)
        await fan.close()
        return owner.got, other.got

    got, other = async_to_sync(scenario)()
    assert [e["server_id"] for e in got] == [1, 2, 3]
    assert all(e["group"] == "owner.7" for e in got)
    assert [(e["server_id"], e["group"]) for e in other] == [(2, "server.2")]


def test_an_edit_that_unticks_is_active_publishes_the_pause(web, django_capture_on_commit_callbacks, listen):
    """Issue 14 A.2: the admin form's edit of ``is_active`` sent no live event."""
    channel = listen(server_group(web.pk))
    web.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        checks.save_edit(web, {"is_active"})
    assert [(e["type"], e["status"]["status"]) for e in drain(channel, expect=1)] == [(STATUS, Status.PAUSED)]


@override_settings(LIVE_PUBLISH_TIMEOUT=1)
def test_a_batch_for_many_processes_sends_a_few_at_a_time_and_loses_none(alice, monkeypatch):
    # Each send holds one of the layer's Redis connections: 120 at once overran redis-py's pool
    # (100) and the sends past it failed, their events lost (issue 20's push benchmark). And a
    # slow layer (0.3 s a send, four rounds) delivers them all: the timeout is each send's.
    from monitoring.services.live import publish

    servers = [
        Server.objects.create(owner=alice, name=f"push-{i}", protocol=Protocol.PUSH, check_interval=60)
        for i in range(120)
    ]

    class CountingLayer:
        """120 web processes, each watching one of the servers."""

        group_expiry = 86400

        def __init__(self) -> None:
            self.in_flight = self.most = 0
            self.sent: list[str] = []
            self.groups = {server_group(s.pk): {f"specific.p{s.pk}!": time.time()} for s in servers}

        async def send(self, channel: str, message: dict[str, Any]) -> None:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            await asyncio.sleep(0.3)
            self.sent.append(channel)
            self.in_flight -= 1

    layer = CountingLayer()
    monkeypatch.setattr(publish, "get_channel_layer", lambda: layer)
    now = timezone.now()
    pings = [
        PingResult(pk=i + 1, server=s, status=PingStatus.SUCCESS, check_timestamp=now) for i, s in enumerate(servers)
    ]
    states = [s.server_status for s in Server.objects.filter(pk__in=[s.pk for s in servers]).order_by("pk")]
    publish.publish_checks(zip(servers, pings, states, strict=True))
    assert sorted(layer.sent) == sorted(f"specific.p{s.pk}!" for s in servers), "one message to each process"
    assert layer.most <= publish.SENDS_AT_ONCE


def test_a_full_channel_is_reported_once_a_minute_and_the_others_still_get_theirs(
    alice, caplog, django_capture_on_commit_callbacks, listen, monkeypatch
):
    from channels.exceptions import ChannelFull

    from monitoring.services.engine.recording import CheckResult, record
    from monitoring.services.live import publish

    server = Server.objects.create(owner=alice, name="full", protocol=Protocol.HTTP, host="127.0.0.1", port=80)
    gone, alive = listen(server_group(server.pk)), listen(server_group(server.pk))
    layer = get_channel_layer()
    send = layer.send

    async def full_for_one(channel: str, message: dict[str, Any]) -> None:
        if channel == gone:
            raise ChannelFull(channel)
        await send(channel, message)

    monkeypatch.setattr(layer, "send", full_for_one)
    monkeypatch.setattr(publish, "_reported_full", {})
    caplog.set_level(logging.WARNING, logger="monitoring.services.live.publish")
    outcome = ProbeOutcome(PingStatus.SUCCESS, response_time=3.0, status_code=200)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            record([CheckResult(server, outcome, timezone.now())])
    assert len(drain(alive, expect=2)) == 2
    full = [r.getMessage() for r in caplog.records if "live_channel_full" in r.getMessage()]
    assert len(full) == 1 and f"channel={gone}" in full[0]
    assert not any("live_publish_failed" in r.getMessage() for r in caplog.records)


def test_a_process_channel_that_falls_behind_keeps_more_than_the_layers_default_of_100_messages():
    # One channel per web process receives every event of its subscribers' servers: at 1,000
    # pushes a second the layer's default capacity (100) dropped the events past a tenth of a
    # second of lag (issue 20). On the Redis layer in the PostgreSQL run, in memory otherwise.
    layer = get_channel_layer()

    async def send_then_receive() -> list[int]:
        channel = await layer.new_channel()
        await layer.group_add("capacity-check", channel)
        for n in range(300):
            await layer.group_send("capacity-check", {"type": "server.checked", "n": n})
        received = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):  # what was dropped never comes
                while len(received) < 300:
                    received.append((await layer.receive(channel))["n"])
        return received

    assert async_to_sync(send_then_receive)() == list(range(300))


def test_a_batch_is_sent_only_to_the_processes_watching_its_groups(
    alice, django_capture_on_commit_callbacks, listen, monkeypatch
):
    """Issue 20: empty groups cost no send (on Redis, ``group_send`` made two round trips each)."""
    from monitoring.services.engine.recording import CheckResult, record

    layer = get_channel_layer()
    servers = [
        Server.objects.create(owner=alice, name=f"w{n}", protocol=Protocol.HTTP, host="127.0.0.1", port=80)
        for n in range(3)
    ]
    watched = listen(server_group(servers[2].pk))
    sent: list[str] = []
    send = layer.send

    async def counted(channel: str, message: dict[str, Any]) -> None:
        sent.append(channel)
        await send(channel, message)

    async def no_group_send(group: str, message: dict[str, Any]) -> None:  # pragma: no cover - must not run
        raise AssertionError("group_send")

    monkeypatch.setattr(layer, "send", counted)
    monkeypatch.setattr(layer, "group_send", no_group_send)
    outcome = ProbeOutcome(PingStatus.SUCCESS, response_time=3.0, status_code=200)
    with django_capture_on_commit_callbacks(execute=True):
        record([CheckResult(s, outcome, timezone.now()) for s in servers])
    assert sent == [watched]
    [event] = drain(watched, expect=1)
    assert event["server_id"] == servers[2].pk


def test_the_events_of_servers_nobody_watches_are_not_built(
    alice, django_capture_on_commit_callbacks, listen, monkeypatch
):
    """Issue 20: a check's live payload is built only when one of its groups has a member."""
    from monitoring.services.engine.recording import CheckResult, record
    from monitoring.services.live import publish

    servers = [
        Server.objects.create(owner=alice, name=f"b{n}", protocol=Protocol.HTTP, host="127.0.0.1", port=80)
        for n in range(3)
    ]
    watched = listen(server_group(servers[1].pk))
    built: list[int] = []
    check_event = publish.check_event

    def counted(server: Server, ping: PingResult, state: Any) -> Any:
        built.append(server.pk)
        return check_event(server, ping, state)

    monkeypatch.setattr(publish, "check_event", counted)
    outcome = ProbeOutcome(PingStatus.SUCCESS, response_time=3.0, status_code=200)
    with django_capture_on_commit_callbacks(execute=True):
        record([CheckResult(s, outcome, timezone.now()) for s in servers])
    assert built == [servers[1].pk]
    [event] = drain(watched, expect=1)
    assert event["server_id"] == servers[1].pk
