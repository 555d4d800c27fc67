"""ASGI wrapper: push requests run Django's synchronous parts on a small shared pool of threads.

Django's ASGIHandler gives every request its own ``ThreadSensitiveContext`` and so a new
thread, and Django's connections are per thread: under daphne every push would open (and
leak until collected) a PostgreSQL connection of its own, a few milliseconds each and, at
hundreds of pushes a second, more connections than the server allows. Push requests instead
share PUSH_WORKER_THREADS long-lived threads, each keeping its connection (CONN_MAX_AGE), so
pushes run side by side on that many connections.

A request's sync parts still run on one thread: asgiref routes the view's ``sync_to_async``
back to the thread the middleware runs on. asgiref warns that blocks sharing an executor may
deadlock when a sync call bridges back with ``async_to_sync`` and waits on another block;
the push path does not (middleware, the throttle's cache, one ORM transaction, and the
publish on commit, which goes to the live publisher's own loop or, with the in-memory layer,
straight to the event loop).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings

PUSH_PATH = "/api/push/"


class PooledThreadsForPushes:
    _executor: ThreadPoolExecutor | None = None
    _lock = threading.Lock()

    def __init__(self, app: Any) -> None:
        self.app = app

    @classmethod
    def executor(cls) -> ThreadPoolExecutor:
        with cls._lock:
            if cls._executor is None:
                cls._executor = ThreadPoolExecutor(max_workers=settings.PUSH_WORKER_THREADS, thread_name_prefix="push")
            return cls._executor

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PUSH_PATH):
            async with ThreadSensitiveContext(executor=self.executor()):
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)
