"""Publishing finished checks to the live feeds through the channel layer (SPEC §5).

``services.engine.recording`` calls ``publish_checks()`` from ``transaction.on_commit`` once per
recorded batch, so clients never see a check that was rolled back, and whichever process ran
it (the API, the scheduler, ``check_servers``) reaches every web process through the Redis layer.

Each event goes to three groups (joined per process by ``services.live.fanout``); a subscriber
joins exactly one kind, so it gets an event once:

* ``server.<id>`` — WebSocket subscriptions and SSE streams filtered by ``server_id``;
* ``team.<team id>`` — an unfiltered SSE stream of a member (also sees servers added later);
* ``staff`` — an unfiltered SSE stream of a staff user (every server).

A batch is sent as one layer message per process, not per group: the publisher reads which
process channels are members of the batch's groups (one Redis pipeline) and sends each channel
one ``server.routed`` message holding every event any of its groups wants, once, with the
groups each goes to; the process's fan-out unpacks it. A web process whose dashboard watches
1,000 servers gets one message per batch instead of one per server (at a thousand checks or
pushes a second its channel fell behind and channels' capacity dropped events, issue 20).
Payloads are per-server deltas built once here with ``monitoring.payloads`` (the REST API's
shapes), so every consumer forwards the same dicts without touching the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NotRequired, TypedDict, TypeVar

import uvloop
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from monitoring.models import PingResult, Server, ServerStatus
from monitoring.payloads import PingPayload, StatusPayload, ping_payload, status_payload
from monitoring.services.live.fanout import ROUTED

log = logging.getLogger(__name__)
T = TypeVar("T")

STAFF_GROUP = "staff"
#: Layer event types; channels dispatches ``server.checked`` to a consumer's ``server_checked()``.
CHECKED = "server.checked"
STATUS = "server.status"


class LiveEvent(TypedDict):
    """One check (``ping`` set) or a pause/resume (``ping`` None), as subscribers receive it.

    ``group`` names the group a copy was sent to, so a process's fan-out (services.live.fanout)
    knows which of its local subscribers it is for.
    """

    type: str
    server_id: int
    ping: PingPayload | None
    status: StatusPayload
    #: The WebSocket frame, encoded once here rather than by each of a process's sockets.
    frame: str
    group: NotRequired[str]


def server_group(server_id: int) -> str:
    return f"server.{server_id}"


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


def check_event(server: Server, ping: PingResult, state: ServerStatus) -> LiveEvent:
    state.server = server  # the caller's instance: no query for ``server_name``
    payload = {"ping": ping_payload(ping), "status": status_payload(state)}
    frame = json.dumps({"type": "update", **payload}, separators=(",", ":"))
    return LiveEvent(type=CHECKED, server_id=server.pk, frame=frame, **payload)  # type: ignore[typeddict-item]


def publish_checks(checks: Iterable[tuple[Server, PingResult, ServerStatus]]) -> None:
    """Send a recorded batch of checks to the processes watching them; never raises.

    The groups' members are asked first, and a check's event is built only when one of its
    groups has one: most checks are of servers nobody watches, and their payloads were a few
    per cent of the scheduler's CPU."""
    checks = list(checks)
    layer = get_channel_layer()
    if layer is None or not checks:
        return

    async def lookup() -> dict[str, list[str]]:
        groups = _groups(server for server, _, _ in checks)
        return await asyncio.wait_for(members(layer, groups), settings.LIVE_PUBLISH_TIMEOUT)

    try:
        found = _on_layer_loop(layer, lookup)
    except Exception as exc:  # noqa: BLE001 — Redis down: log, never fail the check
        _failed([server.pk for server, _, _ in checks], [ping.pk for _, ping, _ in checks], exc)
        return
    events: list[tuple[Server, LiveEvent]] = []
    for server, ping, state in checks:
        if not any(group in found for group in groups_of(server)):
            continue
        try:
            events.append((server, check_event(server, ping, state)))
        except Exception:  # a broken payload must not fail the committed check, nor the others
            log.exception("live_publish_failed server_id=%s ping_id=%s stage=serialize", server.pk, ping.pk)
    _publish(layer, events, found)


def publish_status(server: Server, state: ServerStatus) -> None:
    """Send a status change that no check caused (pause, resume); never raises."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        state.server = server
        status = status_payload(state)
        frame = json.dumps({"type": "status", "status": status}, separators=(",", ":"))
        event = LiveEvent(type=STATUS, server_id=server.pk, ping=None, status=status, frame=frame)
    except Exception:
        log.exception("live_publish_failed server_id=%s stage=serialize", server.pk)
        return
    _publish(layer, [(server, event)])


def groups_of(server: Server) -> tuple[str, str, str]:
    """The groups a server's events go to: its own, its team's and staff's."""
    return server_group(server.pk), team_group(server.team_id), STAFF_GROUP


def _groups(servers: Iterable[Server]) -> list[str]:
    return list(dict.fromkeys(group for server in servers for group in groups_of(server)))


def routed_messages(events: list[tuple[Server, LiveEvent]], members: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """The ``server.routed`` message for each process channel that ``members`` (group → its
    channels) makes a recipient: the events its groups want, each once and in order, and for
    each of those groups the positions of its events."""
    routes: dict[str, dict[str, list[int]]] = defaultdict(dict)  # channel → group → event indexes
    for index, (server, _) in enumerate(events):
        for group in groups_of(server):
            for channel in members.get(group, ()):
                routes[channel].setdefault(group, []).append(index)
    messages = {}
    for channel, groups in routes.items():
        wanted = sorted({index for indexes in groups.values() for index in indexes})
        position = {index: n for n, index in enumerate(wanted)}
        messages[channel] = {
            "type": ROUTED,
            "events": [events[index][1] for index in wanted],
            "groups": [[group, [position[index] for index in indexes]] for group, indexes in groups.items()],
        }
    return messages


#: Channel sends of one publish in flight at once (see ``_publish``).
SENDS_AT_ONCE = 32


async def members(layer: BaseChannelLayer, groups: list[str]) -> dict[str, list[str]]:
    """The member channels of those of ``groups`` that have any (one per web process that
    watches the group, services.live.fanout).

    On Redis, one pipeline per Redis host; channels_redis's ``group_send`` asks twice per group
    before it knows one is empty, and most ``server.<id>`` groups are (nobody watches that one
    server): at a thousand checks a second those round trips cost more of the scheduler's CPU
    than the checks' own HTTP requests. Members older than the layer's ``group_expiry`` are left
    out, as ``group_send`` drops them.
    """
    alive_since = time.time() - layer.group_expiry
    if isinstance(layer, RedisChannelLayer):
        by_host: dict[int, list[str]] = defaultdict(list)
        for group in groups:
            by_host[layer.consistent_hash(group)].append(group)
        found: dict[str, list[str]] = {}
        for index, names in by_host.items():
            pipe = layer.connection(index).pipeline(transaction=False)
            for group in names:
                pipe.zrangebyscore(layer._group_key(group), int(alive_since), "+inf")
            for group, channels in zip(names, await pipe.execute(), strict=True):
                if channels:
                    found[group] = [channel.decode() for channel in channels]
        return found
    table = getattr(layer, "groups", {})  # InMemoryChannelLayer: group → {channel: joined at}
    return {
        group: channels
        for group in groups
        if (channels := [c for c, joined in table.get(group, {}).items() if joined >= alive_since])
    }


#: When a channel was last reported full (``_publish``): a web process that died stays a member
#: of its groups until group_expiry, and its channel stays full all that time.
_reported_full: dict[str, float] = {}
FULL_REPORT_SECONDS = 60.0


def _report_full(channel: str, events: int) -> None:
    now = time.monotonic()
    if now - _reported_full.get(channel, -FULL_REPORT_SECONDS) >= FULL_REPORT_SECONDS:
        _reported_full[channel] = now
        log.warning(
            "live_channel_full channel=%s events=%d (its web process is gone or too busy to receive;"
            " its clients catch up when they reconnect; reported once a minute)",
            channel,
            events,
        )


_home_loop: asyncio.AbstractEventLoop | None = None


def set_home_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """The web server's event loop, for a scheduler running inside the web process with the
    in-memory layer (core.embedded): its threads publish onto that loop, where the consumers are."""
    global _home_loop
    _home_loop = loop


_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def publisher_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for publishing to a cross-process layer, on a daemon thread.

    ``async_to_sync`` in a thread without an event loop (check_servers' and the scheduler's
    workers) starts a new loop for every call, and channels_redis a new Redis connection
    for every loop: about 10 ms and a connection per check. One long-lived loop keeps one
    connection pool for the life of the process.
    """
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = uvloop.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="live-publisher", daemon=True).start()
        return _loop


def _on_layer_loop(layer: BaseChannelLayer, make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``make()`` gives where the layer lives, within LIVE_PUBLISH_TIMEOUT a
    round of sends (a lookup is one).

    The in-memory layer is process-local: it must run on the loop of the consumers it delivers
    to — the web server's, from the embedded scheduler's threads; else the caller's
    (async_to_sync in a request thread returns to the server's loop by itself). A Redis layer's
    sends run on this process's publisher loop (``publisher_loop``).
    """
    wait = settings.LIVE_PUBLISH_TIMEOUT * 3 + 1  # a lookup, or up to 2 rounds of SENDS_AT_ONCE sends, and slack
    if isinstance(layer, InMemoryChannelLayer):
        home = _home_loop
        if home is not None and not home.is_closed() and _running_loop() is not home:
            return asyncio.run_coroutine_threadsafe(make(), home).result(wait)  # type: ignore[arg-type]
        return async_to_sync(make)()
    return asyncio.run_coroutine_threadsafe(make(), publisher_loop()).result(wait)  # type: ignore[arg-type]


def _publish(
    layer: BaseChannelLayer, events: list[tuple[Server, LiveEvent]], found: dict[str, list[str]] | None = None
) -> None:
    """Send ``events`` to the processes watching their servers', teams' or the staff group
    (``found``: the groups' members, when the caller asked already), within
    LIVE_PUBLISH_TIMEOUT a send.

    Runs in on_commit, after the checks are stored: a layer that is down or slow (Redis gone)
    is logged and the checks stand. Clients that miss them catch up from the database (SSE
    ``Last-Event-ID``, WebSocket ``latest``).
    """
    if not events:
        return
    failed: list[BaseException] = []

    # At most SENDS_AT_ONCE sends in flight, each with LIVE_PUBLISH_TIMEOUT: each holds one of the
    # layer's Redis connections, and past the pool's size (redis-py's default: 100) a send fails.
    # After one fails the rest are not tried, so a hung Redis costs one timeout, not one per round.
    async def send(gate: asyncio.Semaphore, channel: str, message: dict[str, Any]) -> None:
        async with gate:
            if failed:
                return
            try:
                await asyncio.wait_for(layer.send(channel, message), settings.LIVE_PUBLISH_TIMEOUT)
            except ChannelFull:
                _report_full(channel, len(message["events"]))
            except Exception as exc:  # noqa: BLE001 — raised again below, after the others stop
                failed.append(exc)

    async def send_all() -> None:
        nonlocal found
        if found is None:
            found = await asyncio.wait_for(
                members(layer, _groups(server for server, _ in events)), settings.LIVE_PUBLISH_TIMEOUT
            )
        gate = asyncio.Semaphore(SENDS_AT_ONCE)
        messages = routed_messages(events, found)
        await asyncio.gather(*(send(gate, channel, message) for channel, message in messages.items()))
        if failed:
            raise failed[0]

    try:
        _on_layer_loop(layer, send_all)
    except Exception as exc:  # noqa: BLE001 — Redis down, timeouts: log, never fail the check
        _failed([server.pk for server, _ in events], [(event["ping"] or {}).get("id") for _, event in events], exc)


def _failed(server_ids: list[int], ping_ids: list[object], exc: BaseException) -> None:
    log.warning(
        "live_publish_failed server_ids=%s ping_ids=%s error=%r",
        ",".join(str(pk) for pk in server_ids[:20]),
        ",".join(str(pk) for pk in ping_ids[:20]),
        exc,
    )
