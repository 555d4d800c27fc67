"""Race several claimers against one database, as several scheduler processes would."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator

from django.db import connection, transaction
from django.db.models import Model


def race(claim: Callable[[], list[int]], *, claimers: int = 4, rounds: int = 40) -> tuple[Counter[int], int]:
    """Run ``claim`` (one batch; the ids it took) on ``claimers`` threads released together,
    each until it finds nothing. Returns how often each id was claimed, and how many
    claimers got any work."""
    start = threading.Barrier(claimers)
    claimed: list[list[int]] = [[] for _ in range(claimers)]

    def claimer(slot: int) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(rounds):
                got = claim()
                if not got:
                    break
                claimed[slot].extend(got)
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(claimers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
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
