"""ASGI wrapper: a fast 503 instead of an unbounded queue when a web worker is overloaded.

Every HTTP request a worker accepts runs at once: its synchronous parts on a thread of their
own, its queries on a connection borrowed from the pool (DB_POOL_MAX_SIZE). Past what the
worker's cores and connections serve, more requests only wait (in the pool's queue, for a
core), each one slower than the last, until clients time out and retry into the same queue.
So each worker serves at most WEB_MAX_INFLIGHT requests at a time and answers the next one
503 with Retry-After at once, nothing of Django run; a balancer or client retries it.

Not counted: SSE streams (open for hours, on their own shared thread), pushes (their own
bound, PUSH_QUEUE_MAX in core.shared_threads), the health check and /metrics (a worker that
is busy is still alive, and a scrape must see it busy), and WebSockets (not "http").
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from core.responses import send_json
from core.shared_threads import LANES

RETRY_AFTER = 1
EXEMPT = ("/api/health/", "/metrics")


def counted(path: str) -> bool:
    return not path.startswith(EXEMPT) and not any(lane.matches(path) for lane in LANES)


async def too_busy(send: Any) -> None:
    """503 with Retry-After, sent without Django."""
    await send_json(send, 503, {"detail": "This server is busy right now; retry in a second."}, retry_after=RETRY_AFTER)


class InFlightLimit:
    """At most WEB_MAX_INFLIGHT counted HTTP requests of this process at a time; 503 beyond."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.in_flight = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not counted(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= settings.WEB_MAX_INFLIGHT:
            await too_busy(send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
