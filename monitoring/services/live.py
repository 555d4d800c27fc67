"""Publishing finished checks to the live feeds through the channel layer (SPEC §5).

The check engine calls ``publish_check()`` from ``transaction.on_commit`` once per check, so
clients never see a check that was rolled back, and whichever process ran it (the API, the
scheduler, ``check_servers``) reaches every web process through the Redis layer.

Each event goes to three groups (joined per process by ``services.fanout``); a subscriber
joins exactly one kind, so it gets an event once:

* ``server.<id>`` — WebSocket subscriptions and SSE streams filtered by ``server_id``;
* ``owner.<user id>`` — an unfiltered SSE stream of a user (also sees servers added later);
* ``staff`` — an unfiltered SSE stream of a staff user (every server).

Payloads are per-server deltas serialised once here with the REST API's serializers, so every
consumer forwards the same dicts without touching the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

# A module import, not names: monitoring.serializers imports the check engine, which imports
# this module, so the serializers are looked up when an event is built, not at import time.
from monitoring import serializers
from monitoring.models import PingResult, Server, ServerStatus

log = logging.getLogger(__name__)

STAFF_GROUP = "staff"
#: Layer event types; channels dispatches ``server.checked`` to a consumer's ``server_checked()``.
CHECKED = "server.checked"
STATUS = "server.status"


class PingPayload(TypedDict):
    """A PingResult as PingResultSerializer renders it."""

    id: int
    server: int
    status: str
    response_time: float | None
    status_code: int | None
    error_message: str
    check_timestamp: str


class StatusPayload(TypedDict):
    """A ServerStatus as ServerStatusSerializer renders it."""

    id: int
    server: int
    server_name: str
    status: str
    uptime_percentage: float | None
    last_check: str | None
    last_response_time: float | None
    consecutive_failures: int
    message: str
    last_status_change: str | None


class LiveEvent(TypedDict):
    """What travels on the channel layer: one check (``ping`` set) or a pause/resume (``ping`` None).

    ``group`` names the group a copy was sent to, so a process's fan-out (services.fanout)
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


def owner_group(user_id: int) -> str:
    return f"owner.{user_id}"


def ping_payload(ping: PingResult) -> PingPayload:
    return dict(serializers.PingResultSerializer(ping).data)  # type: ignore[return-value]


def status_payload(state: ServerStatus, server: Server | None = None) -> StatusPayload:
    if server is not None:
        state.server = server  # the caller's instance: no query for ``server_name``
    return dict(serializers.ServerStatusSerializer(state).data)  # type: ignore[return-value]


def publish_check(server: Server, ping: PingResult, state: ServerStatus) -> None:
    """Send one finished check to its subscribers; never raises (see ``_publish``)."""
    try:
        payload = {"ping": ping_payload(ping), "status": status_payload(state, server)}
        frame = json.dumps({"type": "update", **payload}, separators=(",", ":"))
        event = LiveEvent(type=CHECKED, server_id=server.pk, frame=frame, **payload)  # type: ignore[typeddict-item]
    except Exception:  # a broken payload must not fail the committed check
        log.exception("live_publish_failed server_id=%s ping_id=%s stage=serialize", server.pk, ping.pk)
        return
    _publish(server, event)


def publish_checks(checks: list[tuple[Server, PingResult, ServerStatus]]) -> None:
    """Send a recorded batch of checks to their subscribers; never raises."""
    for server, ping, state in checks:
        publish_check(server, ping, state)


def publish_status(server: Server, state: ServerStatus) -> None:
    """Send a status change that no check caused (pause, resume); never raises."""
    try:
        status = status_payload(state, server)
        frame = json.dumps({"type": "status", "status": status}, separators=(",", ":"))
        event = LiveEvent(type=STATUS, server_id=server.pk, ping=None, status=status, frame=frame)
    except Exception:
        log.exception("live_publish_failed server_id=%s stage=serialize", server.pk)
        return
    _publish(server, event)


_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


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
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="live-publisher", daemon=True).start()
        return _loop


def _publish(server: Server, event: LiveEvent) -> None:
    """Send ``event`` to the server's, its owner's and the staff group, within LIVE_PUBLISH_TIMEOUT.

    Runs in on_commit, after the check is stored: a layer that is down or slow (Redis gone)
    is logged and the check stands. Clients that miss it catch up from the database (SSE
    ``Last-Event-ID``, WebSocket ``latest``).
    """
    layer = get_channel_layer()
    if layer is None:
        return
    groups = [server_group(server.pk), owner_group(server.owner_id), STAFF_GROUP]

    async def send_all() -> None:
        sends = (layer.group_send(group, {**event, "group": group}) for group in groups)
        await asyncio.wait_for(asyncio.gather(*sends), settings.LIVE_PUBLISH_TIMEOUT)

    try:
        if isinstance(layer, InMemoryChannelLayer):
            # Process-local: it must run on the loop of the consumers it delivers to.
            async_to_sync(send_all)()
        else:
            asyncio.run_coroutine_threadsafe(send_all(), publisher_loop()).result(settings.LIVE_PUBLISH_TIMEOUT + 1)
    except Exception as exc:  # noqa: BLE001 — Redis down, timeouts, full channels: log, never fail the check
        log.warning(
            "live_publish_failed server_id=%s ping_id=%s error=%r",
            server.pk,
            (event["ping"] or {}).get("id"),
            exc,
        )
