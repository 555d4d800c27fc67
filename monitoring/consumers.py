"""The WebSocket feed at /ws/status/ (SPEC §5).

Client → server actions ``latest``, ``subscribe`` and ``unsubscribe``; server → client
``update`` frames after every check of a subscribed server. The consumer accepts the handshake
at once and then authenticates (``authentication.credentials``: batched reads, no query per
connect in a storm); it closes with 4001 when that leaves the user anonymous, when the token
expires later, or when the credential is revoked (logout, password change, deactivation, a
change of staff or of the user's teams, a revoked API key; the credentials' gate re-reads every
LIVE_REVALIDATE_SECONDS). A team API key's socket sees its team's servers.
Live events come through this process's fan-out (``services.live.fanout``), which joins one
``server.<id>`` layer group per process however many sockets subscribe.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import AnonymousUser

from authentication.credentials import gate
from authentication.middleware import authenticate_scope
from monitoring import feed_params
from monitoring.services.live import feeds
from monitoring.services.live.fanout import LiveUnavailable, fanout
from monitoring.services.live.publish import LiveEvent, server_group

log = logging.getLogger(__name__)

UNAUTHENTICATED = 4001
# The live feed broke (the channel layer failed): reconnect and ask for ``latest``. 1011 or
# 1012 would say it in the standard's words, but daphne's WebSocket library (autobahn) lets a
# server send only 1000 or 3000-4999 and refuses anything else, leaving the socket open and
# silent; 4012 is "service restart" (1012) in the private range.
INTERRUPTED = 4012
DEFAULT_LIMIT = 10


class BadRequest(Exception):
    """A frame the consumer cannot act on; answered with an ``error`` frame, the socket stays open."""


def parse_frame(content: dict[str, Any]) -> tuple[feeds.FeedFilter, int]:
    """The frame's ``server_ids``, ``query``, ``limit`` and ``location`` through the feeds' one parser."""
    names = (feed_params.SERVER_IDS, feed_params.QUERY, feed_params.LIMIT, feed_params.LOCATION)
    raw = {name: content.get(name) for name in names}
    try:
        return feed_params.parse(raw, DEFAULT_LIMIT)
    except feed_params.FeedParamsError as exc:
        raise BadRequest(exc.first()) from None


class StatusConsumer(AsyncWebsocketConsumer):
    """One dashboard or program: the servers it subscribed to and the groups it is in."""

    # No layer alias is configured under this name, so channels gives the socket no channel
    # of its own: live events come through the process's fan-out, and a pending layer
    # receive per socket would only cost memory and contend for channels_redis' receive lock.
    channel_layer_alias = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        """channels' dispatch without its ``close_old_connections`` before every message.

        That runs in asgiref's one shared thread, so in a connect storm every handshake queued
        behind every other connect's database work and daphne dropped them after its handshake
        deadline. The handlers here that touch the database do so through
        ``database_sync_to_async``, which closes stale connections itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.user = AnonymousUser()
        self.subscribed: set[int] = set()
        # The last subscribe's ``location`` (SPEC §20): only checks run from there are sent.
        self.location: str | None = None
        self.expiry: asyncio.TimerHandle | None = None
        await self.accept()  # first: a storm of connects is never held at the handshake
        try:
            creds = await authenticate_scope(self.scope)
        except Exception:
            log.exception("live_authenticate_failed")
            await self.close(code=INTERRUPTED)  # the database is down: the client retries
            return
        if not creds.ok:
            await self.close(code=UNAUTHENTICATED)
            return
        self.user = creds.user
        gate().watch(self, creds, self.on_revoked)
        expires_at = creds.expires_at
        if expires_at is not None:
            # A token connection lives no longer than its token; the client reconnects with a fresh one.
            delay = max(0.0, expires_at - time.time())
            self.expiry = asyncio.get_running_loop().call_later(delay, self.on_token_expired)

    def on_token_expired(self) -> None:
        asyncio.ensure_future(self.close(code=UNAUTHENTICATED))

    async def on_revoked(self) -> None:
        """The credential no longer holds (the gate re-read it): stop answering, close with 4001."""
        self.user = AnonymousUser()
        await self.leave_all()
        await self.close(code=UNAUTHENTICATED)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the consumer; however it ends (a crash skips ``disconnect()``), leave the fan-out."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.leave_all()

    async def disconnect(self, code: int) -> None:
        await self.leave_all()

    async def leave_all(self) -> None:
        gate().unwatch(self)
        if getattr(self, "expiry", None) is not None:
            self.expiry.cancel()
        ids, self.subscribed = sorted(getattr(self, "subscribed", ())), set()
        for server_id in ids:
            await fanout().leave(server_group(server_id), self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not getattr(getattr(self, "user", None), "is_authenticated", False):
            return  # closing with 4001 already
        try:
            content = self.decode(text_data)
            action = content.get("action")
            handler = {"latest": self.latest, "subscribe": self.subscribe, "unsubscribe": self.unsubscribe}.get(
                action if isinstance(action, str) else ""
            )
            if handler is None:
                raise BadRequest("Unknown action: use latest, subscribe or unsubscribe.")
            await handler(content)
        except BadRequest as exc:
            await self.send_json({"type": "error", "message": str(exc)})

    @staticmethod
    def decode(text_data: str | None) -> dict[str, Any]:
        if text_data is None:
            raise BadRequest("Send JSON text frames.")
        try:
            content = json.loads(text_data)
        except ValueError:
            raise BadRequest("Malformed JSON.") from None
        if not isinstance(content, dict):
            raise BadRequest('A frame is a JSON object such as {"action": "subscribe", "server_ids": [1]}.')
        return content

    async def latest(self, content: dict[str, Any]) -> None:
        feed, limit = parse_frame(content)
        await self._check_location(feed)
        statuses, pings = await database_sync_to_async(self._latest)(feed, limit)
        await self.send_json({"type": "latest", "statuses": statuses, "pings": pings})

    def _latest(self, feed: feeds.FeedFilter, limit: int) -> tuple[list[Any], list[Any]]:
        return feeds.statuses(self.user, feed), feeds.latest_pings(self.user, feed, limit)

    async def subscribe(self, content: dict[str, Any]) -> None:
        """Join the groups of the requested servers the user may see (all of them without ids or query)."""
        feed, _ = parse_frame(content)
        await self._check_location(feed)
        self.location = feed.location
        ids = await database_sync_to_async(feeds.server_ids)(self.user, feed)
        for server_id in ids:
            if server_id not in self.subscribed:
                try:
                    await fanout().join(server_group(server_id), self)
                except LiveUnavailable:
                    await self.interrupted()  # Redis is down: the client retries until it is back
                    return
                self.subscribed.add(server_id)
        await self.send_json({"type": "subscribed", "servers": ids})

    async def _check_location(self, feed: feeds.FeedFilter) -> None:
        if feed.location is not None and not await database_sync_to_async(feeds.location_known)(
            self.user, feed.location
        ):
            raise BadRequest(f"No location with the slug {feed.location!r} is shared or your team's.")

    async def unsubscribe(self, content: dict[str, Any]) -> None:
        """Leave the groups of ``server_ids`` (every subscription without them)."""
        ids = parse_frame(content)[0].server_ids
        leaving = sorted(self.subscribed if ids is None else self.subscribed.intersection(ids))
        for server_id in leaving:
            self.subscribed.discard(server_id)
            await fanout().leave(server_group(server_id), self)
        await self.send_json({"type": "unsubscribed", "servers": leaving})

    async def deliver(self, event: dict[str, Any]) -> None:
        """A live event from this process's fan-out; its dotted type names the handler.

        It bypasses channels' dispatch on purpose: that runs ``close_old_connections`` in a
        thread before every handler, and these handlers touch no database.
        """
        await getattr(self, get_handler_name(event))(event)

    async def interrupted(self) -> None:
        """The fan-out lost the channel layer; closing makes the client reconnect and catch up."""
        await self.close(code=INTERRUPTED)

    async def server_checked(self, event: LiveEvent) -> None:
        """A check of a subscribed server finished (layer type ``server.checked``)."""
        # An event already in flight when the client unsubscribed is dropped here.
        if event["server_id"] in self.subscribed and feeds.wanted(self.location, event["ping"]):
            await self.send(text_data=event["frame"])  # {"type": "update", "ping": …, "status": …}

    async def server_status(self, event: LiveEvent) -> None:
        """A subscribed server was paused or resumed: a status with no check behind it."""
        if event["server_id"] in self.subscribed:
            await self.send(text_data=event["frame"])  # {"type": "status", "status": …}

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, separators=(",", ":")))
