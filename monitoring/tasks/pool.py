"""Run one function over many items on worker threads, each with its own database connection.

Used by certificate checks (``certificates.run_certificate_checks``), whose TLS handshakes are
blocking; HTTP and TCP checks run on an asyncio loop instead (``runner``, ``engine``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.db import connection

T = TypeVar("T")
R = TypeVar("R")


def run_concurrently(items: list[T], work: Callable[[T], R], *, concurrency: int) -> Iterator[tuple[T, R | None, str]]:
    """Yield ``(item, result, "")`` or ``(item, None, error)`` for each item, in completion order.

    1. With one worker (or one item) the work runs inline, on the caller's own connection and
       transaction (tests; the API with CHECK_CONCURRENCY=1).
    2. Otherwise workers take items from a shared queue; each keeps one database connection
       for the whole run and closes it when the queue is empty.
    3. Results are yielded on the calling thread, so progress output stays there.
    An exception from ``work`` becomes the error text: one broken item never stops the rest.
    """

    def attempt(item: T) -> tuple[T, R | None, str]:
        try:
            return item, work(item), ""
        except Exception as exc:  # noqa: BLE001 — reported per item, never fatal to the run
            return item, None, f"{exc.__class__.__name__}: {exc}"

    workers = min(concurrency, len(items))
    if workers <= 1:
        for item in items:
            yield attempt(item)
        return

    todo: queue.SimpleQueue[T] = queue.SimpleQueue()
    for item in items:
        todo.put(item)
    results: queue.SimpleQueue[tuple[T, R | None, str]] = queue.SimpleQueue()

    def worker() -> None:
        try:
            while True:
                try:
                    item = todo.get_nowait()
                except queue.Empty:
                    return
                results.put(attempt(item))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, name=f"worker-{n}", daemon=True) for n in range(workers)]
    for thread in threads:
        thread.start()
    try:
        for _ in items:
            yield results.get()
    finally:
        for thread in threads:
            thread.join()
