"""On PostgreSQL, concurrent claimers never claim the same server (one UPDATE over SELECT … SKIP LOCKED)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import require_postgres
from monitoring.models import Server
from monitoring.tasks.claims import claim_due
from monitoring.tests.factories import make_server
from tests.concurrency import race, row_locked_elsewhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_claimers_never_claim_the_same_server(alice):
    require_postgres()
    Server.objects.bulk_create(
        [
            Server(
                owner=alice, team=alice.personal_team, name=f"s{n}", host="example.com", next_check_at=timezone.now()
            )
            for n in range(200)
        ]
    )
    now = timezone.now() + timedelta(seconds=1)
    # Each claimer thread is its own scheduler process, with its own lease owner.
    counts, busy = race(
        lambda: [s.pk for s in claim_due(now, owner=threading.current_thread().name, limit=7)], rounds=20
    )
    assert len(counts) == 200, "every due server is claimed"
    assert max(counts.values()) == 1, "no server is claimed twice"
    assert busy >= 2, "the work was shared"


def test_a_locked_row_is_skipped_not_waited_for(alice):
    require_postgres()
    server = make_server(alice)
    other = make_server(alice, name="other")
    Server.objects.update(next_check_at=timezone.now())
    now = timezone.now()
    with row_locked_elsewhere(Server, server.pk):
        assert [s.pk for s in claim_due(now, owner="me")] == [other.pk]


def test_concurrent_claimers_after_a_dead_claimers_lease_expired_take_each_server_once(alice):
    require_postgres()
    now = timezone.now()
    Server.objects.bulk_create(
        [
            Server(
                owner=alice,
                team=alice.personal_team,
                name=f"s{n}",
                host="example.com",
                next_check_at=now - timedelta(seconds=40),
                lease_owner="dead",
                lease_until=now - timedelta(seconds=5),
            )
            for n in range(100)
        ]
    )
    counts, _ = race(lambda: [s.pk for s in claim_due(now, owner=threading.current_thread().name, limit=9)], rounds=20)
    assert len(counts) == 100 and max(counts.values()) == 1
    assert not Server.objects.filter(lease_owner="dead").exists()


def test_the_scheduler_claims_on_a_connection_of_its_own_beside_recording(alice, monkeypatch):
    """Issue 20: a claim never queues behind a batch being recorded (its own thread and connection)."""
    import asyncio

    from monitoring.tasks import engine as engine_module

    require_postgres()
    seen: dict[str, str] = {}
    engine = engine_module.Engine(concurrency=1, tick=0.05)

    def claim(*args: object, **kwargs: object) -> list[Server]:
        seen["claim"] = threading.current_thread().name
        return []

    close = engine.store.close

    def closing() -> None:  # first on the recording thread, then on the claims'
        seen.setdefault("record", threading.current_thread().name)
        close()

    monkeypatch.setattr(engine_module.claims, "claim_due", claim)
    monkeypatch.setattr(engine.store, "close", closing)

    async def briefly() -> None:
        runner = asyncio.ensure_future(engine.run())
        await asyncio.sleep(0.3)
        engine.stop()
        await runner

    asyncio.run(briefly())
    assert seen["claim"].startswith("engine-claims") and seen["record"].startswith("engine-db")
