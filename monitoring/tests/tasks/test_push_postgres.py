"""On PostgreSQL, a missed push deadline is claimed by exactly one of several scheduler processes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import require_postgres
from monitoring.choices import PingStatus, Protocol
from monitoring.models import PingResult, Server
from monitoring.tasks.push import claim_overdue, push_step
from tests.concurrency import race, row_locked_elsewhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def make_overdue(owner, count: int) -> list[Server]:
    servers = [Server.objects.create(owner=owner, name=f"p{n}", protocol=Protocol.PUSH) for n in range(count)]
    Server.objects.filter(pk__in=[s.pk for s in servers]).update(push_deadline_at=timezone.now())
    return servers


def test_two_claimers_never_claim_the_same_missed_deadline(alice):
    require_postgres()
    make_overdue(alice, 60)
    now = timezone.now() + timedelta(seconds=1)
    counts, busy = race(lambda: [s.pk for s, _ in claim_overdue(now, limit=5)], claimers=2, rounds=30)
    assert len(counts) == 60, "every missed deadline is claimed"
    assert max(counts.values()) == 1, "no deadline is claimed twice"
    assert busy == 2, "both claimers got work"


def test_two_scheduler_steps_record_each_missed_deadline_once(alice):
    require_postgres()
    servers = make_overdue(alice, 30)
    now = timezone.now() + timedelta(seconds=1)
    race(lambda: [rec.ping.pk for rec in push_step(now, limit=4)], claimers=2, rounds=30)
    per_server = {s.pk: PingResult.objects.filter(server=s, status=PingStatus.TIMEOUT).count() for s in servers}
    assert set(per_server.values()) == {1}


def test_a_push_server_locked_by_another_claim_is_skipped_not_waited_for(alice):
    require_postgres()
    held, free = make_overdue(alice, 2)
    with row_locked_elsewhere(Server, held.pk):
        assert [s.pk for s, _ in claim_overdue(timezone.now())] == [free.pk]
