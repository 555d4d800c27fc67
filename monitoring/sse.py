"""The Server-Sent-Events feed at GET /api/events/status/ (SPEC §5).

An async Django view: it authenticates (Bearer header, ``?token=`` or session), validates
the query, then streams ``retry: 5000``, a snapshot (or, after ``Last-Event-ID``, a replay of
what was missed), and live events pushed from the channel layer through this process's
fan-out (``services.live.fanout``). Each open stream is a queue and one coroutine — no thread and
no database polling per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.views.decorators.http import require_GET

from authentication.credentials import LiveCredentials, authenticate, gate
from monitoring import feed_params
from monitoring.services.live import feeds
from monitoring.services.live.fanout import LiveUnavailable, fanout
from monitoring.services.live.publish import CHECKED, STAFF_GROUP, STATUS, LiveEvent, server_group, team_group

log = logging.getLogger(__name__)

RETRY_MS = 5000
DEFAULT_LIMIT = 50
# The query's names for feed_params' canonical ones (SPEC §5).
QUERY_NAMES = {feed_params.SERVER_IDS: "server_id", feed_params.STATUSES: "status"}
UNKNOWN_LOCATION = "No location with the slug {!r} is shared or your team's (see /api/locations/)."
# Live events a stream may hold unsent; a client that far behind is cut off and reconnects
# with Last-Event-ID, which replays from the database instead of growing memory.
QUEUE_MAX = 1000


class BadParams(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class StreamParams:
    """The validated query of one stream (SPEC §5: status, server_id, since, limit; Last-Event-ID)."""

    feed: feeds.FeedFilter = field(default_factory=feeds.FeedFilter)
    limit: int = DEFAULT_LIMIT
    last_event_id: int | None = None

    @classmethod
    def parse(cls, query: QueryDict, last_event_id: str | None) -> StreamParams:
        """Read the query, collecting every problem into one 400 answer (like DRF's field errors)."""

        def values(name: str) -> list[str]:
            return [v.strip() for item in query.getlist(name) for v in item.split(",") if v.strip()]

        errors: dict[str, list[str]] = {}
        feed, limit = feeds.FeedFilter(), DEFAULT_LIMIT
        raw = {
            feed_params.SERVER_IDS: values("server_id") or None,
            feed_params.STATUSES: values("status"),
            feed_params.SINCE: query.get("since"),
            feed_params.LIMIT: query.get("limit"),
            feed_params.LOCATION: query.get("location"),
        }
        try:
            feed, limit = feed_params.parse(raw, DEFAULT_LIMIT)
        except feed_params.FeedParamsError as exc:
            errors = {QUERY_NAMES.get(name, name): messages for name, messages in exc.errors.items()}

        last = (last_event_id or query.get("last_event_id") or "").strip()
        if last and (not last.isdigit() or int(last) > feed_params.MAX_ID):
            errors["Last-Event-ID"] = ["Last-Event-ID must be an event id this stream sent (a whole number)."]

        if errors:
            raise BadParams(errors)
        return cls(feed=feed, limit=limit, last_event_id=int(last) if last else None)


def sse_event(name: str, event_id: int, data: list[Any]) -> str:
    """One SSE event; JSON escapes newlines, so the array always fits one ``data:`` line."""
    payload = json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"))
    return f"event: {name}\nid: {event_id}\ndata: {payload}\n\n"


class StatusStream:
    """One client's stream: its filter, what it already sent, and its queue of live events."""

    def __init__(self, creds: LiveCredentials, params: StreamParams) -> None:
        self.creds = creds
        self.user = creds.user
        self.expires_at = creds.expires_at
        self.params = params
        self.feed = params.feed
        self.last_id = params.last_event_id or 0
        # Ping ids sent from the database (snapshot, replay): a live copy of one is a duplicate.
        self.sent_ids: set[int] = set()
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(QUEUE_MAX)
        self.cut_off = False
        self.joined: list[str] = []

    async def deliver(self, event: LiveEvent) -> None:
        """A live event from the fan-out (never blocks: it runs in the fan-out's task)."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.cut_off = True

    async def interrupted(self) -> None:
        """The fan-out lost the layer: end the stream, the client reconnects with Last-Event-ID."""
        self.cut_off = True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    def groups(self) -> list[str]:
        """Per-server groups for a ``server_id`` filter, else the groups of the user's teams (staff: everyone's)."""
        if self.feed.server_ids is not None:
            return [server_group(i) for i in feeds.server_ids(self.user, self.feed)]
        if self.user.is_staff:
            return [STAFF_GROUP]
        return [team_group(i) for i in feeds.team_ids(self.user)]

    def catch_up(self) -> list[str]:
        """The snapshot, or after ``Last-Event-ID`` the replay (a snapshot if too far behind)."""
        if self.params.last_event_id is not None:
            events = feeds.replay(self.user, self.feed, self.params.last_event_id, settings.SSE_REPLAY_MAX)
            if events is not None:
                self.sent_ids = {event_id for name, event_id, _ in events if name == "ping"}
                if events:
                    self.last_id = events[-1][1]
                return [sse_event(*event) for event in events]
            log.info("sse_replay_too_far user_id=%s last_event_id=%s", self.user.pk, self.params.last_event_id)
        newest = feeds.newest_ping_id(self.user, self.feed)
        states = feeds.statuses(self.user, self.feed)
        pings = feeds.latest_pings(self.user, self.feed, self.params.limit)
        self.sent_ids = {ping["id"] for ping in pings}
        self.last_id = max(newest, *self.sent_ids) if self.sent_ids else newest
        return [sse_event("status", self.last_id, states), sse_event("ping", self.last_id, pings)]

    def live(self, event: LiveEvent) -> list[str]:
        """The SSE events for one layer event: nothing when filtered out or already sent."""
        statuses = self.feed.statuses
        if statuses and event["status"]["status"] not in statuses:
            return []
        if not feeds.wanted(self.feed.location, event["ping"]):  # a check from another location
            return []
        if event["type"] == CHECKED and event["ping"] is not None:
            ping_id = event["ping"]["id"]
            if ping_id in self.sent_ids:
                return []
            self.last_id = ping_id
            return [sse_event("ping", ping_id, [event["ping"]]), sse_event("status", ping_id, [event["status"]])]
        if event["type"] == STATUS:
            # A pause or resume has no ping; repeating the last id keeps the client's resume point.
            return [sse_event("status", self.last_id, [event["status"]])]
        return []

    def wait_time(self) -> float:
        """Seconds until the next heartbeat, or until the token expires if that is sooner."""
        wait = float(settings.SSE_HEARTBEAT_SECONDS)
        if self.expires_at is not None:
            wait = min(wait, self.expires_at - time.time())
        return wait

    async def __aiter__(self) -> AsyncIterator[str]:
        """Stream until the client leaves (the task is cancelled) or the token expires.

        1. (``join()`` already joined the groups, before the response started.)
        2. Send ``retry``, then the snapshot or replay, read in one database call.
        3. Forward queued events; the pending ``get`` outlives each heartbeat wait instead of
           being cancelled, so no event is dropped between waits. A stream cut off (too far
           behind, or the layer failed) ends, and the client's reconnect replays the gap.
        4. Always leave the groups, however the stream ends.
        """
        getter: asyncio.Future[LiveEvent | None] | None = None
        try:
            yield f"retry: {RETRY_MS}\n\n"
            for chunk in await database_sync_to_async(self.catch_up)():
                yield chunk
            while not self.cut_off:
                wait = self.wait_time()
                if wait <= 0:
                    log.info("sse_token_expired user_id=%s", self.user.pk)
                    return
                getter = getter or asyncio.ensure_future(self.queue.get())
                done, _ = await asyncio.wait({getter}, timeout=wait)
                if not done:
                    if self.expires_at is None or self.expires_at > time.time():
                        yield ": heartbeat\n\n"
                    continue
                event, getter = getter.result(), None
                if event is None:
                    break
                for chunk in self.live(event):
                    yield chunk
            log.info("sse_cut_off user_id=%s last_id=%s", self.user.pk, self.last_id)
        finally:
            if getter is not None:
                getter.cancel()
            await self.leave()

    async def join(self) -> None:
        """Join the stream's groups before anything is answered; LiveUnavailable if the layer is down.

        Joining first means a check that commits during the snapshot is queued, not lost.
        """
        self.loop = asyncio.get_running_loop()
        # Ends the stream like a broken layer does once the credential is revoked (logout, password, …).
        gate().watch(self, self.creds, self.interrupted)
        for group in await database_sync_to_async(self.groups)():
            try:
                await fanout().join(group, self)
            except BaseException:  # LiveUnavailable, or the client left (cancelled) meanwhile
                await self.leave()
                raise
            self.joined.append(group)

    def close(self) -> None:
        """Django's ``response.close()`` (on a worker thread): leave the groups if the stream never ran.

        A client that disconnects after ``join()`` but before the first chunk never starts the
        stream's generator, so its ``finally`` would not run; this does its part. Leaving twice is harmless.
        """
        loop = getattr(self, "loop", None)
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.leave()))

    async def leave(self) -> None:
        gate().unwatch(self)
        joined, self.joined = self.joined, []
        for group in joined:
            await fanout().leave(group, self)


def unavailable(detail: str) -> HttpResponse:
    response = JsonResponse({"detail": detail}, status=503)
    response["Retry-After"] = str(RETRY_MS // 1000)
    return response


@require_GET
async def status_events(request: HttpRequest) -> HttpResponse:
    """GET /api/events/status/: 401 without credentials, 400 on a bad query, 503 without the layer, else the stream."""
    try:
        creds = await authenticate(
            request.headers.get("Authorization"),
            request.GET.get("token"),
            request.COOKIES.get(settings.SESSION_COOKIE_NAME),
            request.headers.get("X-Api-Key"),
        )
    except Exception:  # the database cannot be read: the client retries
        log.exception("sse_authenticate_failed")
        return unavailable("The live feed cannot check credentials now; retry shortly.")
    if not creds.ok:
        response = JsonResponse({"detail": creds.error}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    try:
        params = StreamParams.parse(request.GET, request.headers.get("Last-Event-ID"))
    except BadParams as exc:
        return JsonResponse(exc.errors, status=400)
    location = params.feed.location
    if location is not None and not await database_sync_to_async(feeds.location_known)(creds.user, location):
        return JsonResponse({"location": [UNKNOWN_LOCATION.format(location)]}, status=400)
    stream = StatusStream(creds, params)
    try:
        await stream.join()
    except LiveUnavailable:
        # Redis is down: say so now rather than hold a stream that would never get an event.
        return unavailable("The live feed is unavailable; retry shortly.")
    # The stream itself, not aiter(stream): Django then calls its close() when the response ends.
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return response
