"""On PostgreSQL, concurrent certificate claimers never claim one server twice (skip_locked,
a fresh re-check under the lock, and the inserted claim row)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conftest import require_postgres
from monitoring.models import CertificateCheck, Server
from monitoring.tasks.certificates import claim_due_certificates
from monitoring.tests.factories import make_server
from tests.concurrency import race, row_locked_elsewhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_certificate_claimers_never_claim_the_same_server(alice):
    require_postgres()
    # Claims only: nothing is probed, so the host is never reached.
    Server.objects.bulk_create(
        [
            Server(owner=alice, team=alice.personal_team, name=f"s{n}", protocol="https", host="127.0.0.1", port=443)
            for n in range(200)
        ]
    )
    now = timezone.now()
    counts, busy = race(lambda: [c.server_id for c in claim_due_certificates(now, limit=7)])
    assert len(counts) == 200, "every due server is claimed"
    assert max(counts.values()) == 1, "no server is claimed twice"
    assert CertificateCheck.objects.filter(in_progress=True).count() == 200
    assert busy >= 2, "the work was shared"


def test_a_server_locked_by_another_claimer_is_skipped_not_waited_for(alice):
    require_postgres()
    server = make_server(alice, host="127.0.0.1")
    other = make_server(alice, name="other", host="127.0.0.1")
    with row_locked_elsewhere(Server, server.pk):
        assert [c.server_id for c in claim_due_certificates(timezone.now())] == [other.pk]
    assert [c.server_id for c in claim_due_certificates(timezone.now())] == [server.pk]
