"""Race several claimers against one database, as several scheduler processes would."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator

from django.db import connection, transaction
from django.db.models import Model


def at_once(work: Callable[[int], object], *, threads: int, timeout: float = 60) -> list[BaseException]:
    """Run ``work(n)`` for n in 0..threads-1 on threads released together (as several processes
    would hit one database), each closing its own connection; the errors they raised, in order."""
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            start.wait(timeout=20)
            work(n)
        except BaseException as exc:  # noqa: BLE001 — reported to the caller
            errors.append(exc)
        finally:
            connection.close()

    running = [threading.Thread(target=one, args=(n,)) for n in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in running), f"a thread still ran after {timeout} s"
    return errors


def race(claim: Callable[[], list[int]], *, claimers: int = 4, rounds: int = 40) -> tuple[Counter[int], int]:
    """Run ``claim`` (one batch; the ids it took) on ``claimers`` threads released together,
    each until it finds nothing. Returns how often each id was claimed, and how many
    claimers got any work."""
    claimed: list[list[int]] = [[] for _ in range(claimers)]

    def claimer(slot: int) -> None:
        for _ in range(rounds):
            got = claim()
            if not got:
                break
            claimed[slot].extend(got)

    errors = at_once(claimer, threads=claimers)
    assert errors == [], errors
    return Counter(pk for part in claimed for pk in part), sum(1 for part in claimed if part)


@contextlib.contextmanager
def row_locked_elsewhere(model: type[Model], pk: int) -> Iterator[None]:
    """Hold ``SELECT … FOR UPDATE`` on one row from another thread (another process's claim)
    for the duration of the block."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(model.objects.select_for_update().filter(pk=pk))
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=10), "the other thread could not take the lock"
        yield
    finally:
        release.set()
        holder.join(timeout=10)
