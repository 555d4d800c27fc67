"""The embedded default: the scheduler runs inside the web process (SPEC §16, issue 7).

With the in-memory channel layer (``make run``: SQLite, nothing else installed) a scheduler in
a process of its own could never reach the web process's WebSocket and SSE clients. So when
``bin/run`` sees that layer it starts no ``start_scheduler``; daphne loads ``core.asgi`` with
``PULSEGUARD_EMBEDDED_SCHEDULER=auto`` and this module starts the same scheduler (check engine,
alert sender, certificate step) on threads of the web process. Its checks are published onto
daphne's own event loop (``services.live.publish.set_home_loop``), which the ASGI wrapper below
records on the first connection. With Redis, ``start_scheduler`` processes run separately as
before and this does nothing.

``python -m core.embedded`` prints ``embedded`` or ``separate`` for ``bin/run``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import Any

log = logging.getLogger(__name__)

ENV = "PULSEGUARD_EMBEDDED_SCHEDULER"
_started = threading.Lock()
_scheduler: Any = None


def in_memory_layer() -> bool:
    from django.conf import settings

    return settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def wanted() -> bool:
    """``PULSEGUARD_EMBEDDED_SCHEDULER``: ``auto`` embeds with the in-memory layer, ``true`` always."""
    mode = os.environ.get(ENV, "").strip().lower()
    return mode == "true" or (mode == "auto" and in_memory_layer())


def start() -> None:
    """Start the scheduler on this process's threads, once; stop it when the process is asked to."""
    global _scheduler
    if not _started.acquire(blocking=False):
        return
    from django.conf import settings

    from monitoring.tasks.scheduler import Scheduler

    _scheduler = Scheduler(concurrency=settings.CHECK_CONCURRENCY)
    _scheduler.start()
    log.info("embedded_scheduler_started")
    if threading.current_thread() is threading.main_thread():
        # Daphne (Twisted) stops on SIGTERM/SIGINT; the scheduler's threads are daemons, so a
        # check in flight at that moment is given back by its lease. Chain to the old handlers.
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)

            def handler(number: int, frame: Any, previous: Any = previous) -> None:
                _scheduler.stop()
                if callable(previous):
                    previous(number, frame)

            signal.signal(signum, handler)


class CaptureLoop:
    """ASGI wrapper that hands the server's event loop to ``services.live.publish`` on the first call."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.captured = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if not self.captured:
            from monitoring.services.live import publish

            publish.set_home_loop(asyncio.get_running_loop())
            self.captured = True
        return await self.app(scope, receive, send)


if __name__ == "__main__":
    from core.env import settings_module

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
    print("embedded" if in_memory_layer() else "separate")
