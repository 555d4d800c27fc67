"""ASGI wrapper: chosen request paths run Django's synchronous parts on a shared pool of threads.

Django's ASGIHandler gives every request its own ``ThreadSensitiveContext`` and so a new
thread, and Django's connections are per thread. Two paths cannot afford that:

- **SSE streams** (``STREAMS``, one thread): a stream that stays open all day would hold an
  idle thread per client; here the sessions, authentication and snapshot queries of every
  stream share one thread (and one database connection), one call at a time.
- **Pushes** (``PUSHES``, PUSH_WORKER_THREADS threads): under daphne every push would open
  (and leak until collected) a PostgreSQL connection of its own; at hundreds of pushes a
  second, more than the server allows. They share long-lived threads, each keeping its
  connection (CONN_MAX_AGE). And when more pushes arrive than those threads keep up with,
  the excess is answered 503 with Retry-After at once (more than PUSH_QUEUE_MAX waiting for a
  thread), instead of queueing until the client gives up at its own timeout while the push
  is still stored later — a cron job that retries then counts twice (issue 14 D.26).

A request's sync parts still run on one thread: asgiref routes the view's ``sync_to_async``
back to the thread the middleware runs on. asgiref warns that blocks sharing an executor may
deadlock when a sync call bridges back with ``async_to_sync`` and waits on another block;
neither path does (middleware, session, the throttle, ORM reads and one transaction, and the
publish on commit, which goes to the live publisher's own loop or, with the in-memory layer,
straight to the event loop), and it stays safe as long as they keep to plain synchronous calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.urls import reverse

from core.responses import send_json

Scope = dict[str, Any]
#: The scope key holding when the request reached the wrapper (``time.monotonic()``).
ARRIVED = "pulseguard.arrived"
RETRY_AFTER = 5


@dataclass(eq=False)
class Lane:
    """The requests of one path and the threads they share.

    ``threads`` and ``backlog`` are read from the settings when first needed; ``backlog`` None
    means requests wait for a thread however many there are.
    """

    name: str
    matches: Callable[[str], bool]
    threads: Callable[[], int]
    backlog: Callable[[], int] | None = None
    in_flight: int = 0
    _executor: ThreadPoolExecutor | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.threads(), thread_name_prefix=self.name)
            return self._executor

    def full(self) -> bool:
        """Whether every thread is busy and ``backlog`` more requests already wait."""
        return self.backlog is not None and self.in_flight >= self.executor()._max_workers + self.backlog()


STREAMS = Lane("sse", lambda path: path == reverse("events-status"), threads=lambda: 1)
PUSHES = Lane(
    "push",
    lambda path: path.startswith(("/api/push/", "/ping/")),
    threads=lambda: settings.PUSH_WORKER_THREADS,
    backlog=lambda: settings.PUSH_QUEUE_MAX,
)
LANES = (STREAMS, PUSHES)


def waited(scope: Scope) -> float:
    """Seconds since the request reached the wrapper (0 outside it, e.g. in the test client)."""
    arrived = scope.get(ARRIVED)
    return 0.0 if arrived is None else time.monotonic() - arrived


async def overloaded(send: Any) -> None:
    """503 with Retry-After, sent without Django: nothing of the request runs."""
    body = {"ok": False, "detail": "Too many pushes right now; retry shortly."}
    await send_json(send, 503, body, retry_after=RETRY_AFTER)


class SharedThreads:
    """Run each lane's requests in a ThreadSensitiveContext on the lane's pool; others as usual."""

    def __init__(self, app: Any, lanes: tuple[Lane, ...] = LANES) -> None:
        self.app = app
        self.lanes = lanes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        lane = None
        if scope["type"] == "http":
            lane = next((lane for lane in self.lanes if lane.matches(scope["path"])), None)
        if lane is None:
            await self.app(scope, receive, send)
            return
        if lane.full():
            await overloaded(send)
            return
        lane.in_flight += 1
        try:
            async with ThreadSensitiveContext(executor=lane.executor()):
                await self.app({**scope, ARRIVED: time.monotonic()}, receive, send)
        finally:
            lane.in_flight -= 1
