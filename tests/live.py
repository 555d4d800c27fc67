"""Test helpers for the live feeds: a fresh channel layer, group membership, tokens, and an
in-process SSE client that drives the real ASGI application (core.asgi) under a time bound."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

# How long a live-feed test waits for something that must arrive. It arrives in milliseconds
# on a quiet machine; CI runs the suite on two loaded cores, where it can take seconds. A wait
# ends as soon as it arrives, so only a failing test waits this long. (Waits that prove
# nothing arrives stay short: there a slow machine can only make the test pass.)
PATIENCE = 15.0


async def eventually(condition: Callable[[], bool | Awaitable[bool]], timeout: float = PATIENCE) -> None:
    """Poll ``condition`` (a function, sync or async) every 10 ms until it holds or ``timeout``
    seconds have passed; the caller's own assertion then says what did not happen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        await asyncio.sleep(0.01)


@contextlib.contextmanager
def fresh_channel_layer() -> Iterator[None]:
    """A new layer instance for one test: channels drops cached layers when CHANNEL_LAYERS changes.

    Each test has its own event loop, and layer instances hold loop-bound queues and pools.
    """
    with override_settings(CHANNEL_LAYERS=settings.CHANNEL_LAYERS):
        yield


async def stop_fanout() -> None:
    """Stop this test loop's fan-out receiver before the loop closes (it would wait in Redis)."""
    from monitoring.services.live.fanout import fanout

    await fanout().close()


async def close_worker_connections() -> None:
    """Close the database connections that live-feed code opened on its worker threads.

    ``database_sync_to_async`` outside a request runs on asgiref's one thread-sensitive thread,
    the SSE path and pushes on the lanes of ``core.shared_threads``; their connections
    (kept for CONN_MAX_AGE) would otherwise stop pytest-django from dropping the PostgreSQL
    test database.
    """
    from core.shared_threads import LANES

    await sync_to_async(connections.close_all)()
    # One task per thread of each lane (held together by a barrier, so no thread takes two)
    # closes each one's connection.
    for lane in LANES:
        pool = lane.executor()
        together = threading.Barrier(pool._max_workers)

        def close_on_this_thread(together: threading.Barrier = together) -> None:
            together.wait(timeout=10)
            connections.close_all()

        await asyncio.gather(
            *(asyncio.wrap_future(pool.submit(close_on_this_thread)) for _ in range(pool._max_workers))
        )


def group_members(group: str) -> set[str]:
    """The channels in ``group`` on the configured layer (in-memory or Redis)."""
    layer = get_channel_layer()
    if hasattr(layer, "groups"):  # InMemoryChannelLayer
        return set(layer.groups.get(group, {}))
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return {name.decode() for name in client.zrange(f"{layer.prefix}:group:{group}", 0, -1)}
    finally:
        client.close()


def token_for(user: Any, lifetime: timedelta | None = None) -> str:
    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def application() -> Any:
    from core.asgi import application as app

    return app


def ws_client(token: str | None = None, *, via: str = "header", origin: str | None = None) -> WebsocketCommunicator:
    """A WebsocketCommunicator on /ws/status/ through the full ASGI stack."""
    path = "/ws/status/"
    headers: list[tuple[bytes, bytes]] = []
    if token is not None and via == "header":
        headers.append((b"authorization", f"Bearer {token}".encode()))
    elif token is not None:
        path += f"?token={token}"
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return WebsocketCommunicator(application(), path, headers=headers)


def sync_group_send(group: str, message: dict[str, Any]) -> None:
    async_to_sync(get_channel_layer().group_send)(group, message)


@dataclass
class SSEEvent:
    event: str = "message"
    id: str | None = None
    data: str = ""
    comment: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


def parse_block(block: str) -> SSEEvent:
    event = SSEEvent()
    for line in block.split("\n"):
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "":
            event.comment = value
        elif name == "event":
            event.event = value
        elif name == "id":
            event.id = value
        elif name == "data":
            event.data = f"{event.data}\n{value}" if event.data else value
        elif name == "retry":
            event.retry = int(value)
    return event


@dataclass
class SSEClient:
    """Drives GET /api/events/status/ through ``core.asgi.application`` like a server would.

    ``async with SSEClient(query=…, headers=…) as sse`` starts the request; ``status`` and
    ``headers`` are the response start, ``next_event()`` parses the body as it streams, and
    leaving the block sends ``http.disconnect`` (a client closing the tab) and waits, bounded,
    for the application to finish.
    """

    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/api/events/status/"

    def __post_init__(self) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()
        self.buffer = ""
        self.status = 0
        self.response_headers: dict[str, str] = {}
        self.body = b""
        self.finished = False

    async def receive(self) -> dict[str, Any]:
        if not getattr(self, "_sent_request", False):
            self._sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        await self.messages.put(message)

    async def __aenter__(self) -> SSEClient:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": urlencode(self.query, doseq=True).encode(),
            "root_path": "",
            "headers": [(b"host", b"testserver")] + [(k.lower().encode(), v.encode()) for k, v in self.headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.task = asyncio.ensure_future(application()(scope, self.receive, self.send))
        start = await asyncio.wait_for(self.messages.get(), PATIENCE)
        assert start["type"] == "http.response.start", start
        self.status = start["status"]
        self.response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return self

    async def read_chunk(self, timeout: float) -> bytes | None:
        """The next body chunk, or None when the response ended."""
        if self.finished:
            return None
        message = await asyncio.wait_for(self.messages.get(), timeout)
        chunk = message.get("body", b"")
        self.body += chunk
        if not message.get("more_body", False):
            self.finished = True
        return chunk

    async def next_event(self, timeout: float = PATIENCE) -> SSEEvent:
        """The next SSE block (event, comment or retry), waiting at most ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while "\n\n" not in self.buffer:
            chunk = await self.read_chunk(max(0.01, deadline - loop.time()))
            if chunk is None:
                raise EOFError("the stream ended")
            self.buffer += chunk.decode()
        block, self.buffer = self.buffer.split("\n\n", 1)
        return parse_block(block)

    async def events(self, count: int, timeout: float = PATIENCE, *, skip_comments: bool = True) -> list[SSEEvent]:
        found: list[SSEEvent] = []
        while len(found) < count:
            event = await self.next_event(timeout)
            if skip_comments and event.comment is not None:
                continue
            found.append(event)
        return found

    async def json_body(self) -> Any:
        while await self.read_chunk(PATIENCE) is not None:
            pass
        return json.loads(self.body)

    async def __aexit__(self, *exc: object) -> None:
        self.gone.set()
        await asyncio.wait_for(self.task, PATIENCE)
