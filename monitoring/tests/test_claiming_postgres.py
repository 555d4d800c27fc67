"""On PostgreSQL, concurrent claimers never claim the same server (skip_locked + conditional UPDATE)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import require_postgres
from monitoring.models import Server
from monitoring.tasks.runner import claim_due
from monitoring.tests.factories import make_server
from tests.concurrency import race, row_locked_elsewhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_claimers_never_claim_the_same_server(alice):
    require_postgres()
    Server.objects.bulk_create(
        [Server(owner=alice, name=f"s{n}", host="example.com", next_check_at=timezone.now()) for n in range(200)]
    )
    now = timezone.now() + timedelta(seconds=1)
    counts, busy = race(lambda: [s.pk for s in claim_due(now, limit=7)], rounds=20)
    assert len(counts) == 200, "every due server is claimed"
    assert max(counts.values()) == 1, "no server is claimed twice"
    assert busy >= 2, "the work was shared"


def test_a_locked_row_is_skipped_not_waited_for(alice):
    require_postgres()
    server = make_server(alice)
    other = make_server(alice, name="other")
    now = timezone.now()
    with row_locked_elsewhere(Server, server.pk):
        assert [s.pk for s in claim_due(now)] == [other.pk]
