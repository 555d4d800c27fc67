"""Publishing finished checks to the channel layer: once, after commit, from every caller."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
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


def drain(channel: str, expect: int) -> list[dict[str, Any]]:
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


def test_a_recorded_batch_is_one_message_per_group(alice, django_capture_on_commit_callbacks, listen):
    from monitoring.services.engine.recording import CheckResult, record
    from monitoring.services.live.publish import BATCH

    servers = [
        Server.objects.create(owner=alice, name=f"b{n}", protocol=Protocol.HTTP, host="127.0.0.1", port=80)
        for n in range(3)
    ]
    owner = listen(team_group(alice.personal_team.pk))
    single = listen(server_group(servers[1].pk))
    outcome = ProbeOutcome(PingStatus.SUCCESS, response_time=3.0, status_code=200)
    with django_capture_on_commit_callbacks(execute=True):
        records = record([CheckResult(s, outcome, timezone.now()) for s in servers])
    [batch] = drain(owner, expect=1)
    assert batch["type"] == BATCH and batch["group"] == team_group(alice.personal_team.pk)
    assert [e["ping"]["id"] for e in batch["events"]] == [r.ping.pk for r in records]
    assert all(e["type"] == CHECKED and e["status"]["status"] == Status.UP for e in batch["events"])
    [one] = drain(single, expect=1)
    assert one["type"] == CHECKED and one["server_id"] == servers[1].pk and one["group"] == server_group(servers[1].pk)


def test_the_fanout_hands_each_event_of_a_batch_to_the_groups_subscribers_in_order():
    from monitoring.services.live.fanout import Fanout

    class Collect:
        def __init__(self) -> None:
            self.got: list[dict[str, Any]] = []

        async def deliver(self, event: dict[str, Any]) -> None:
            self.got.append(event)

        async def interrupted(self) -> None:  # pragma: no cover - not reached
            raise AssertionError

    async def scenario() -> list[dict[str, Any]]:
        layer = get_channel_layer()
        fan, sub = Fanout(layer), Collect()
        await fan.join("owner.7", sub)
        events = [{"type": CHECKED, "server_id": n, "ping": {"id": n}} for n in (1, 2, 3)]
        await layer.group_send("owner.7", {"type": "server.batch", "group": "owner.7", "events": events})
        await eventually(lambda: len(sub.got) == 3)
        await fan.close()
        return sub.got

    got = async_to_sync(scenario)()
    assert [e["server_id"] for e in got] == [1, 2, 3]
    assert all(e["group"] == "owner.7" for e in got)


def test_an_edit_that_unticks_is_active_publishes_the_pause(web, django_capture_on_commit_callbacks, listen):
    """Issue 14 A.2: the admin form's edit of ``is_active`` sent no live event."""
    channel = listen(server_group(web.pk))
    web.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        checks.save_edit(web, {"is_active"})
    assert [(e["type"], e["status"]["status"]) for e in drain(channel, expect=1)] == [(STATUS, Status.PAUSED)]


@override_settings(LIVE_PUBLISH_TIMEOUT=1)
def test_a_batch_of_many_servers_sends_its_groups_a_few_at_a_time_and_loses_none(alice, monkeypatch):
    # Each group send holds one of the layer's Redis connections: 120 at once overran redis-py's
    # pool (100) and the sends past it failed, their events lost (issue 20's push benchmark). And
    # a slow layer (0.3 s a send, four rounds) delivers them all: the timeout is each send's.
    from monitoring.services.live import publish

    class CountingLayer:
        def __init__(self) -> None:
            self.in_flight = self.most = 0
            self.groups: list[str] = []

        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            await asyncio.sleep(0.3)
            self.groups.append(group)
            self.in_flight -= 1

    layer = CountingLayer()
    monkeypatch.setattr(publish, "get_channel_layer", lambda: layer)
    servers = [
        Server.objects.create(owner=alice, name=f"push-{i}", protocol=Protocol.PUSH, check_interval=60)
        for i in range(120)
    ]
    now = timezone.now()
    pings = [
        PingResult(pk=i + 1, server=s, status=PingStatus.SUCCESS, check_timestamp=now) for i, s in enumerate(servers)
    ]
    states = [s.server_status for s in Server.objects.filter(pk__in=[s.pk for s in servers]).order_by("pk")]
    publish.publish_checks(zip(servers, pings, states, strict=True))
    assert len(layer.groups) == 120 + 2, "each server's group, the team's and staff"
    assert layer.most <= publish.SENDS_AT_ONCE


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


def test_on_redis_a_batch_is_sent_only_to_the_groups_that_have_members(
    alice, django_capture_on_commit_callbacks, listen, monkeypatch
):
    """Issue 20: empty groups cost no ``group_send`` (two Redis round trips each) on the Redis layer."""
    from channels_redis.core import RedisChannelLayer

    from monitoring.services.engine.recording import CheckResult, record

    layer = get_channel_layer()
    if not isinstance(layer, RedisChannelLayer):
        pytest.skip("the Redis channel layer only (CHANNEL_LAYER_TYPE=redis)")
    servers = [
        Server.objects.create(owner=alice, name=f"w{n}", protocol=Protocol.HTTP, host="127.0.0.1", port=80)
        for n in range(3)
    ]
    watched = listen(server_group(servers[2].pk))
    sent: list[str] = []
    group_send = layer.group_send

    async def counted(group: str, message: dict[str, Any]) -> None:
        sent.append(group)
        await group_send(group, message)

    monkeypatch.setattr(layer, "group_send", counted)
    outcome = ProbeOutcome(PingStatus.SUCCESS, response_time=3.0, status_code=200)
    with django_capture_on_commit_callbacks(execute=True):
        record([CheckResult(s, outcome, timezone.now()) for s in servers])
    assert sent == [server_group(servers[2].pk)]
    [event] = drain(watched, expect=1)
    assert event["server_id"] == servers[2].pk
