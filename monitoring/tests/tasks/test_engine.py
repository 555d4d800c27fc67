"""The check engine at scale (SPEC §9): fixed-rate due times, leases, spreading, and a hanging
target that delays no other server's check."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from monitoring.choices import PingStatus
from monitoring.models import PingResult, Server, StatusChange
from monitoring.services.engine.recording import CheckResult, record
from monitoring.services.engine.transitions import ProbeOutcome
from monitoring.tasks import claims, engine
from monitoring.tasks.engine import Engine, run_forever
from monitoring.tests.factories import make_server

OK = ProbeOutcome(PingStatus.SUCCESS, response_time=1.0, status_code=200)


def test_next_due_is_the_previous_due_plus_the_interval_not_the_end_of_the_check():
    due = timezone.now()
    assert Server(check_interval=20).next_due(due, due + timedelta(seconds=3)) == due + timedelta(seconds=20)


def test_next_due_after_a_whole_missed_interval_stays_on_the_grid():
    due = timezone.now()
    server = Server(check_interval=20)
    assert server.next_due(due, due + timedelta(seconds=45)) == due + timedelta(seconds=60)
    assert server.next_due(due, due + timedelta(seconds=20)) == due + timedelta(seconds=40)


def later_checks(servers: list[Server]) -> list[datetime]:
    """When each server's check after its first is due, its first having run on time."""
    rows = Server.objects.filter(pk__in=[s.pk for s in servers])
    return [row.next_due(row.next_check_at, row.next_check_at) for row in rows]


@pytest.mark.django_db
def test_servers_created_together_are_checked_at_once_and_spread_after(alice):
    """SPEC §23 (issue 14 C.10): no first check waits for the golden-ratio offset; the later
    checks are spread over the interval, never two in one second."""
    before = timezone.now()
    servers = [make_server(alice, name=f"s{n}", check_interval=60) for n in range(12)]
    firsts = Server.objects.filter(pk__in=[s.pk for s in servers]).values_list("next_check_at", flat=True)
    assert all((first - before).total_seconds() < 1 for first in firsts), "every first check is due at once"
    offsets = sorted((due - before).total_seconds() for due in later_checks(servers))
    assert offsets[0] >= 60 and offsets[-1] < 121, "within one interval after the first"
    assert min(b - a for a, b in zip(offsets, offsets[1:], strict=False)) >= 1, "never two in the same second"
    assert offsets[-1] - offsets[0] > 45, "spread over the interval, not bunched"


@pytest.mark.django_db
def test_a_burst_of_n_never_puts_more_than_n_over_interval_plus_one_in_a_second(alice):
    servers = [make_server(alice, name=f"s{n}", check_interval=10) for n in range(35)]
    per_second = Counter(math.floor(due.timestamp()) for due in later_checks(servers))
    assert max(per_second.values()) <= math.ceil(35 / 10) + 1


@pytest.mark.django_db
def test_another_users_burst_neither_delays_nor_offsets_a_new_server(alice, bob):
    for n in range(20):
        make_server(bob, name=f"b{n}", check_interval=3600)
    before = timezone.now()
    mine = make_server(alice, name="mine", check_interval=3600)
    row = Server.objects.get(pk=mine.pk)
    assert (row.next_check_at - before).total_seconds() < 1
    assert row.spread_seconds == 0, "alone among alice's servers: a plain fixed rate from its first check"
    assert later_checks([mine]) == [row.next_check_at + timedelta(hours=1)]


def test_a_check_far_behind_is_not_followed_by_another_seconds_later():
    """Issue 14 D.30: a server due 57 s ago (the scheduler was down) checked at start is next due
    on its grid at least half an interval on, not 3 s later."""
    due = timezone.now()
    server = Server(check_interval=60)
    ran = due + timedelta(seconds=57)
    assert server.next_due(due, ran) == due + timedelta(seconds=120)
    assert server.next_due(due, due + timedelta(seconds=20)) == due + timedelta(seconds=60)


@pytest.mark.django_db
def test_a_claim_takes_due_active_unleased_servers_and_leaves_their_due_time(alice):
    now = timezone.now()
    due = make_server(alice, name="due")
    later = make_server(alice, name="later")
    make_server(alice, name="paused", is_active=False)
    Server.objects.update(next_check_at=now - timedelta(seconds=2))
    Server.objects.filter(pk=later.pk).update(next_check_at=now + timedelta(minutes=5))
    [claimed] = claims.claim_due(now, owner="a")
    assert claimed.pk == due.pk and claimed.next_check_at == now - timedelta(seconds=2)
    row = Server.objects.get(pk=due.pk)
    assert row.lease_owner == "a" and row.lease_until == now + timedelta(seconds=30)
    assert claims.claim_due(now, owner="b") == [], "a live lease is not claimed twice"


@pytest.mark.django_db
def test_a_claim_looks_ahead_by_the_horizon(alice):
    now = timezone.now()
    soon = make_server(alice, name="soon")
    Server.objects.update(next_check_at=now + timedelta(seconds=0.5))
    assert claims.claim_due(now, owner="a") == []
    assert [s.pk for s in claims.claim_due(now, owner="a", horizon=1.0)] == [soon.pk]


@pytest.mark.django_db
def test_an_expired_lease_of_a_dead_claimer_is_taken_over_for_the_same_due_time(alice):
    now = timezone.now()
    server = make_server(alice)
    due = now - timedelta(seconds=35)
    # A scheduler claimed it 35 s ago and was killed before recording (its lease ran out 5 s ago).
    Server.objects.update(next_check_at=due, lease_owner="dead", lease_until=now - timedelta(seconds=5))
    [taken] = claims.claim_due(now, owner="alive")
    assert taken.next_check_at == due, "the unfinished check is run, not skipped for an interval"

    # The dead claimer's result, should it ever arrive, is dropped: no check twice.
    late = CheckResult(server, OK, due, due_at=due, lease_owner="dead", next_due_at=due + timedelta(seconds=60))
    assert record([late]) == []
    assert PingResult.objects.count() == 0

    mine = CheckResult(taken, OK, now, due_at=due, lease_owner="alive", next_due_at=now + timedelta(seconds=25))
    assert len(record([mine])) == 1
    row = Server.objects.get(pk=server.pk)
    assert (row.lease_owner, row.lease_until, row.next_check_at) == ("", None, now + timedelta(seconds=25))


@pytest.mark.django_db
def test_renewing_extends_only_the_owners_own_leases(alice):
    now = timezone.now()
    mine, theirs = make_server(alice, name="mine"), make_server(alice, name="theirs")
    Server.objects.filter(pk=mine.pk).update(lease_owner="me", lease_until=now)
    Server.objects.filter(pk=theirs.pk).update(lease_owner="other", lease_until=now)
    assert claims.renew("me", [mine.pk, theirs.pk], now, lease=20) == 1
    assert Server.objects.get(pk=mine.pk).lease_until == now + timedelta(seconds=20)
    assert Server.objects.get(pk=theirs.pk).lease_until == now


@pytest.mark.django_db
def test_a_claim_is_one_statement_whose_rows_are_the_servers_as_stored(alice):
    """The claimed servers are built from the claim's own UPDATE … RETURNING, not a second query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    now = timezone.now()
    first = make_server(
        alice, name="first", request_headers={"X-A": "1"}, assertions=[{"type": "status", "op": "eq", "value": 200}]
    )
    second = make_server(alice, name="second", tags=["a", "b"])
    Server.objects.filter(pk=first.pk).update(next_check_at=now - timedelta(seconds=1))
    Server.objects.filter(pk=second.pk).update(next_check_at=now - timedelta(seconds=2))
    with CaptureQueriesContext(connection) as ran:
        claimed = claims.claim_due(now, owner="a")
    statements = [q["sql"] for q in ran.captured_queries if "SAVEPOINT" not in q["sql"].upper()]
    assert len(statements) == 1 and statements[0].upper().startswith("UPDATE"), statements
    assert [s.pk for s in claimed] == [second.pk, first.pk], "earliest due first"
    for server in claimed:
        stored = Server.objects.get(pk=server.pk)
        for field in Server._meta.concrete_fields:
            assert getattr(server, field.attname) == getattr(stored, field.attname), field.name
        assert server.lease_owner == "a" and not server._state.adding


class CountingStore(engine.DatabaseStore):
    """A store that claims nothing and records which leases it was asked to renew."""

    def __init__(self) -> None:
        self.claims = 0
        self.renewed: list[list[int]] = []

    def claim(self, now: datetime, **kwargs: object) -> list[Server]:
        self.claims += 1
        return []

    def renew(self, owner: str, server_ids: list[int], now: datetime, lease: float) -> int:
        self.renewed.append(sorted(server_ids))
        return len(server_ids)

    def close(self) -> None:
        pass


def test_a_freed_slot_claims_again_only_when_the_slots_ran_out():
    """With slots free and nothing more due within the horizon, a finished check waits for the
    next tick instead of claiming at once (a claim per finished check cost more CPU than the check)."""
    store = CountingStore()
    engine_ = Engine(concurrency=10, tick=30, store=store, db=engine.ThreadPoolExecutor(1))

    async def scenario() -> None:
        claimer = asyncio.ensure_future(engine_.claim_loop())
        await asyncio.sleep(0.1)
        for _ in range(5):  # five checks finish
            engine_.slot_freed.set()
            await asyncio.sleep(0.05)
        claimer.cancel()

    asyncio.run(scenario())
    assert store.claims == 1


def test_while_the_slots_are_full_the_slots_that_free_together_are_filled_by_one_claim():
    """At saturation a claim per finished check cost more CPU than the checks: slots freed within
    ``regather`` of each other are claimed together."""
    limits: list[int] = []

    class FullStore(CountingStore):
        def claim(self, now: datetime, *, limit: int, **kwargs: object) -> list[Server]:
            limits.append(limit)  # as many as asked, due in a minute: every slot stays taken
            return [Server(pk=len(limits) * 100 + n, next_check_at=now + timedelta(seconds=60)) for n in range(limit)]

    engine_ = Engine(concurrency=5, tick=30, regather=0.05, store=FullStore(), db=engine.ThreadPoolExecutor(1))

    async def scenario() -> None:
        claimer = asyncio.ensure_future(engine_.claim_loop())
        while len(engine_.checks) < 5:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        for task in list(engine_.checks)[:3]:  # three checks end, one after the other
            task.cancel()
            await asyncio.sleep(0.005)
            engine_.slot_freed.set()
        await asyncio.sleep(0.3)
        claimer.cancel()
        for task in engine_.checks:
            task.cancel()

    asyncio.run(scenario())
    assert limits == [5, 3]


def test_only_leases_claimed_a_third_of_a_lease_ago_are_renewed():
    """Most checks are recorded within a second of their claim: only older ones are renewed."""
    store = CountingStore()
    engine_ = Engine(concurrency=10, lease=3, store=store, db=engine.ThreadPoolExecutor(1))
    now = time.monotonic()
    # 1 was claimed 5 s ago, 3 handed over already claimed (a pass), 2 claimed half a second
    # before the first renewal (a third of the lease, 1 s, in).
    engine_.held = {1: now - 5, 2: now + 0.5, 3: 0.0}

    async def scenario() -> None:
        renewer = asyncio.ensure_future(engine_.renew_loop())
        deadline = time.monotonic() + 5
        while not store.renewed and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        renewer.cancel()

    asyncio.run(scenario())
    assert store.renewed == [[1, 3]], "2 was claimed just now: its lease needs no renewing yet"


@pytest.mark.django_db
def test_an_edit_through_save_never_clobbers_a_lease(alice):
    server = make_server(alice)
    stale = Server.objects.get(pk=server.pk)
    Server.objects.filter(pk=server.pk).update(lease_owner="sched", lease_until=timezone.now())
    stale.name = "renamed"
    stale.save()
    row = Server.objects.get(pk=server.pk)
    assert row.name == "renamed" and row.lease_owner == "sched"


@pytest.mark.django_db(transaction=True)
def test_a_hanging_target_delays_no_other_servers_check(alice, http_target, tcp_open_port):
    """Five fast servers and one that accepts and never answers (5 s timeout), three slots."""
    http_target.set("/", 200, "ok")
    hanging = make_server(alice, name="hang", protocol="http", host="127.0.0.1", port=tcp_open_port, timeout=5)
    fast = [
        make_server(alice, name=f"fast{n}", protocol="http", host="127.0.0.1", port=http_target.port, timeout=3)
        for n in range(5)
    ]
    due = timezone.now()
    # On their grid (not the spread check after the first of servers created together, SPEC §23).
    Server.objects.update(next_check_at=due, spread_seconds=0)
    fast_ids = {s.pk for s in fast}
    seen: list[CheckResult] = []
    all_fast = threading.Event()

    def recorded(batch: list[CheckResult]) -> None:
        seen.extend(batch)
        if fast_ids <= {r.server.pk for r in seen}:
            all_fast.set()

    engine = Engine(concurrency=3, tick=0.05, flush=0.05, on_recorded=recorded)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=run_forever, args=(engine, loop), daemon=True)
    thread.start()
    try:
        assert all_fast.wait(4.5), "every fast server was checked while the hanging one held its slot"
        assert hanging.pk not in {r.server.pk for r in seen}, "the hanging check is still running"
        fast_results = [r for r in seen if r.server.pk in fast_ids]
        assert all(r.outcome.ok for r in fast_results)
        assert max(r.lateness for r in fast_results) < 2.5  # half the hanging timeout
        # Each moved on by its own interval from its due time.
        for server in Server.objects.filter(pk__in=fast_ids):
            assert server.next_check_at == due + timedelta(seconds=server.check_interval)
    finally:
        loop.call_soon_threadsafe(engine.stop)
        thread.join(10)
    assert not thread.is_alive()
    hung = PingResult.objects.get(server=hanging)
    assert hung.status == PingStatus.TIMEOUT


# --- one-off passes (run_once): check-now, the admin action, check_servers, /api/checks/run/


@pytest.mark.django_db
def test_a_check_now_whose_probe_raises_is_recorded_as_an_error(alice, monkeypatch):
    """Issue 14 A.1: every path shares the engine's error path (check-now raised through)."""
    server = make_server(alice, protocol="http", host="127.0.0.1", port=9)

    async def broken(server: Server, client: object) -> ProbeOutcome:
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(engine, "probe_async", broken)
    rec = engine.run_check(server)
    assert rec is not None and rec.ping is not None
    assert (rec.ping.status, rec.ping.error_message) == (PingStatus.ERROR, "RuntimeError: probe exploded")
    assert PingResult.objects.get(server=server).status == PingStatus.ERROR


@pytest.mark.django_db(transaction=True)
def test_a_check_now_holds_no_database_connection_while_it_probes(alice, monkeypatch):
    """Issue 14 D.21: 110 check-nows against a silent target took every PostgreSQL connection."""
    server = make_server(alice, protocol="http", host="127.0.0.1", port=9)
    mine = connections["default"]  # this thread's: the request's connection
    seen: list[bool] = []

    async def silent(server: Server, client: object) -> ProbeOutcome:
        await asyncio.sleep(engine.IDLE_CONNECTION_SECONDS + 0.5)
        seen.append(mine.connection is None)
        return OK

    monkeypatch.setattr(engine, "probe_async", silent)
    assert Server.objects.count() == 1 and mine.connection is not None
    rec = engine.run_check(server)
    assert seen == [True], "the connection was given back while the probe waited"
    assert rec is not None and rec.ping is not None and rec.ping.status == PingStatus.SUCCESS


@pytest.mark.django_db(transaction=True)
def test_deleting_a_server_while_its_check_runs_leaves_nothing_of_it(alice, alice_client, monkeypatch):
    """Issue 14 D.25: the delete answers 204, the check-now 404, and no row of the server remains."""
    server = make_server(alice, protocol="http", host="127.0.0.1", port=9)
    answers: list[int] = []

    async def deleted_meanwhile(server: Server, client: object) -> ProbeOutcome:
        def delete() -> None:
            try:
                answers.append(alice_client.delete(f"/api/servers/{server.pk}/").status_code)
            finally:
                connections.close_all()

        await asyncio.to_thread(delete)
        return ProbeOutcome(PingStatus.FAILURE, error_message="HTTP 500")

    monkeypatch.setattr(engine, "probe_async", deleted_meanwhile)
    r = alice_client.post(f"/api/servers/{server.pk}/check/")
    assert answers == [204] and r.status_code == 404
    assert not Server.objects.exists() and not PingResult.objects.exists() and not StatusChange.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_deleting_an_account_while_its_checks_run_answers_2xx(alice, alice_client, monkeypatch):
    servers = [make_server(alice, name=f"s{n}", protocol="http", host="127.0.0.1", port=9) for n in range(3)]
    answers: list[int] = []
    deleted = threading.Event()

    async def account_deleted(server: Server, client: object) -> ProbeOutcome:
        if server.pk == servers[0].pk:

            def delete() -> None:
                try:
                    answers.append(alice_client.delete("/api/auth/me/").status_code)
                finally:
                    connections.close_all()
                    deleted.set()

            await asyncio.to_thread(delete)
        else:  # every check ends after the delete, however long the delete takes on a busy machine
            await asyncio.to_thread(deleted.wait, 30)
        return OK

    monkeypatch.setattr(engine, "probe_async", account_deleted)
    summary = engine.run_once(servers, concurrency=3)
    assert answers == [204] and summary.records == [] and len(summary.errors) == 3
    assert not Server.objects.exists() and not PingResult.objects.exists()


@pytest.mark.django_db
def test_recording_for_a_deleted_server_skips_it_quietly(alice):
    gone, kept = make_server(alice, name="gone"), make_server(alice, name="kept")
    stale = Server.objects.get(pk=gone.pk)
    gone.delete()
    records = record([CheckResult(stale, OK, timezone.now()), CheckResult(kept, OK, timezone.now())])
    assert [r.state.server_id for r in records] == [kept.pk]
    assert list(PingResult.objects.values_list("server_id", flat=True)) == [kept.pk]


@pytest.mark.django_db(transaction=True)
def test_a_running_scheduler_checks_new_and_edited_servers_within_2_seconds(alice, alice_client, http_target):
    """SPEC §23 (issue 14 C.10): a new hourly server waited up to an hour on a busy install."""
    http_target.set("/", 200, "ok")
    http_target.set("/other", 200, "ok")
    for n in range(30):  # a busy install: another user's burst just before
        make_server(alice, name=f"busy{n}", check_interval=3600, is_active=False)
    engine_ = Engine(concurrency=20, tick=0.1, flush=0.05)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=run_forever, args=(engine_, loop), daemon=True)
    thread.start()

    def checked_within(server_ids: list[int], count: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if PingResult.objects.filter(server_id__in=server_ids).count() >= count:
                return True
            time.sleep(0.05)
        return False

    try:
        body = {"name": "new", "protocol": "http", "host": "127.0.0.1", "port": http_target.port}
        created = [alice_client.post("/api/servers/", dict(body, name=f"new{n}", check_interval=3600), format="json")
                   for n in range(20)]  # fmt: skip
        ids = [r.json()["id"] for r in created]
        assert checked_within(ids, 20, 2 + 20 / 50), "every new server is checked at once"
        r = alice_client.patch(f"/api/servers/{ids[0]}/", {"path": "/other"}, format="json")
        assert r.status_code == 200
        assert checked_within([ids[0]], 2, 2), "an edit of the target is checked at once"
    finally:
        loop.call_soon_threadsafe(engine_.stop)
        thread.join(10)


@pytest.mark.django_db
def test_a_scheduler_starting_late_does_not_check_a_server_again_seconds_later(alice, monkeypatch):
    """Issue 14 D.30: due 57 s ago (interval 60), checked at start, then next due 3 s later."""
    server = make_server(alice, protocol="http", host="127.0.0.1", port=9, check_interval=60)
    due = timezone.now() - timedelta(seconds=57)
    Server.objects.filter(pk=server.pk).update(next_check_at=due, spread_seconds=0)

    async def ok(server: Server, client: object) -> ProbeOutcome:
        return OK

    monkeypatch.setattr(engine, "probe_async", ok)
    owner = claims.new_owner()
    summary = engine.run_once(claims.claim_due(timezone.now(), owner=owner), claimed_by=owner)
    assert summary.checked == 1
    assert Server.objects.get(pk=server.pk).next_check_at == due + timedelta(seconds=120)
