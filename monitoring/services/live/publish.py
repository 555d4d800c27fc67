"""Publishing finished checks to the live feeds through the channel layer (SPEC §5).

``services.engine.recording`` calls ``publish_checks()`` from ``transaction.on_commit`` once per
recorded batch, so clients never see a check that was rolled back, and whichever process ran
it (the API, the scheduler, ``check_servers``) reaches every web process through the Redis layer.

Each event goes to three groups (joined per process by ``services.live.fanout``); a subscriber
joins exactly one kind, so it gets an event once:

* ``server.<id>`` — WebSocket subscriptions and SSE streams filtered by ``server_id``;
* ``team.<team id>`` — an unfiltered SSE stream of a member (also sees servers added later);
* ``staff`` — an unfiltered SSE stream of a staff user (every server).

A batch is sent as one layer message per group (type ``server.batch``, its ``events`` in
order), so a batch of 200 checks of one team costs that team's group one message, not 200;
the fan-out unpacks it. Payloads are per-server deltas built once here with
``monitoring.payloads`` (the REST API's shapes), so every consumer forwards the same dicts
without touching the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NotRequired, TypedDict

import uvloop
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from monitoring.models import PingResult, Server, ServerStatus
from monitoring.payloads import PingPayload, StatusPayload, ping_payload, status_payload

log = logging.getLogger(__name__)

STAFF_GROUP = "staff"
#: Layer event types; channels dispatches ``server.checked`` to a consumer's ``server_checked()``.
CHECKED = "server.checked"
STATUS = "server.status"
#: A layer message holding several events for one group (unpacked by ``services.live.fanout``).
BATCH = "server.batch"


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
    """Send a recorded batch of checks to their subscribers, one message per group; never raises."""
    events: list[tuple[Server, LiveEvent]] = []
    for server, ping, state in checks:
        try:
            events.append((server, check_event(server, ping, state)))
        except Exception:  # a broken payload must not fail the committed check, nor the others
            log.exception("live_publish_failed server_id=%s ping_id=%s stage=serialize", server.pk, ping.pk)
    _publish(events)


def publish_status(server: Server, state: ServerStatus) -> None:
    """Send a status change that no check caused (pause, resume); never raises."""
    try:
        state.server = server
        status = status_payload(state)
        frame = json.dumps({"type": "status", "status": status}, separators=(",", ":"))
        event = LiveEvent(type=STATUS, server_id=server.pk, ping=None, status=status, frame=frame)
    except Exception:
        log.exception("live_publish_failed server_id=%s stage=serialize", server.pk)
        return
    _publish([(server, event)])


def group_messages(events: list[tuple[Server, LiveEvent]]) -> dict[str, dict[str, Any]]:
    """The layer message for each group: the event itself when it is alone, else a batch."""
    by_group: dict[str, list[LiveEvent]] = defaultdict(list)
    for server, event in events:
        for group in (server_group(server.pk), team_group(server.team_id), STAFF_GROUP):
            by_group[group].append(event)
    messages = {}
    for group, items in by_group.items():
        if len(items) == 1:
            messages[group] = {**items[0], "group": group}
        else:
            messages[group] = {"type": BATCH, "group": group, "events": items}
    return messages


#: Group sends of one publish in flight at once (see ``_publish``).
SENDS_AT_ONCE = 32


async def watched_groups(layer: RedisChannelLayer, groups: list[str]) -> list[str]:
    """Those of ``groups`` that have a member, asked in one pipeline per Redis host.

    channels_redis's ``group_send`` asks Redis twice for each group before it knows the group
    is empty; most ``server.<id>`` groups are (nobody watches that one server), and at a
    thousand checks a second those round trips cost more of the scheduler's CPU than the
    checks' own HTTP requests. A group with a member gets a plain ``group_send``, which drops
    expired members itself; an empty one gets nothing, as ``group_send`` would have sent it.
    """
    by_host: dict[int, list[str]] = defaultdict(list)
    for group in groups:
        by_host[layer.consistent_hash(group)].append(group)
    watched: list[str] = []
    for index, names in by_host.items():
        pipe = layer.connection(index).pipeline(transaction=False)
        for group in names:
            pipe.zcard(layer._group_key(group))
        counts = await pipe.execute()
        watched += [group for group, members in zip(names, counts, strict=True) if members]
    return watched


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


def _publish(events: list[tuple[Server, LiveEvent]]) -> None:
    """Send ``events`` to their servers', teams' and the staff group, within LIVE_PUBLISH_TIMEOUT.

    Runs in on_commit, after the checks are stored: a layer that is down or slow (Redis gone)
    is logged and the checks stand. Clients that miss them catch up from the database (SSE
    ``Last-Event-ID``, WebSocket ``latest``).
    """
    layer = get_channel_layer()
    if layer is None or not events:
        return
    messages = group_messages(events)

    # At most SENDS_AT_ONCE group sends in flight: each holds one of the layer's Redis connections,
    # and past the pool's size (redis-py's default: 100) a send fails (MaxConnectionsError) and its
    # event is lost; a batch of 100+ pushes had that. Each send has LIVE_PUBLISH_TIMEOUT (one
    # deadline for a whole batch of 500 groups lost the end of it on a busy machine); after one
    # fails, the rest are not tried, so a hung Redis costs one timeout, not one per round.
    rounds = -(-len(messages) // SENDS_AT_ONCE)
    failed: list[BaseException] = []

    async def send(gate: asyncio.Semaphore, group: str, message: dict[str, Any]) -> None:
        async with gate:
            if failed:
                return
            try:
                await asyncio.wait_for(layer.group_send(group, message), settings.LIVE_PUBLISH_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 — raised again below, after the others stop
                failed.append(exc)

    async def send_all() -> None:
        groups = await watched_groups(layer, list(messages)) if isinstance(layer, RedisChannelLayer) else messages
        gate = asyncio.Semaphore(SENDS_AT_ONCE)
        await asyncio.gather(*(send(gate, group, messages[group]) for group in groups))
        if failed:
            raise failed[0]

    try:
        if isinstance(layer, InMemoryChannelLayer):
            # Process-local: it must run on the loop of the consumers it delivers to — the web
            # server's, from the embedded scheduler's threads; else the caller's (async_to_sync
            # in a request thread returns to the server's loop by itself).
            home = _home_loop
            if home is not None and not home.is_closed() and _running_loop() is not home:
                asyncio.run_coroutine_threadsafe(send_all(), home).result(settings.LIVE_PUBLISH_TIMEOUT * rounds + 1)
            else:
                async_to_sync(send_all)()
        else:
            wait = settings.LIVE_PUBLISH_TIMEOUT * rounds + 1
            asyncio.run_coroutine_threadsafe(send_all(), publisher_loop()).result(wait)
    except Exception as exc:  # noqa: BLE001 — Redis down, timeouts, full channels: log, never fail the check
        log.warning(
            "live_publish_failed server_ids=%s ping_ids=%s error=%r",
            ",".join(str(server.pk) for server, _ in events[:20]),
            ",".join(str((event["ping"] or {}).get("id")) for _, event in events[:20]),
            exc,
        )
