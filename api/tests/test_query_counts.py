"""No N+1: the list endpoints in ``LISTS`` cost the same number of queries for one server's rows or
many, and history and uptime a fixed number however long the history (relative checks; the
outages are recorded through ``services.recording.record``, as the engine records checks)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.models import NotificationConfig
from monitoring.models.results import RECENT_SPANS
from monitoring.services.checks import record_outcome
from monitoring.services.rollups import recompute
from monitoring.tests.factories import make_outcome, make_ping, make_server

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/servers/",
    "/api/ping-results/",
    "/api/server-status/",
    "/api/notification-configs/",
    "/api/notification-deliveries/",
    "/api/incidents/",
]


def add_outage(owner, n: int) -> None:
    """A server with a config that goes down: a ping, a status change, an incident, a delivery."""
    server = make_server(owner, name=f"s{n}")
    NotificationConfig.objects.create(server=server, notification_type="email", recipient=f"ops{n}@example.com")
    record_outcome(server, make_outcome(ok=False))


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    assert response.json()["results"], f"{url} listed nothing"
    return len(captured)


@pytest.mark.parametrize("url", LISTS)
def test_a_list_costs_the_same_queries_for_one_row_or_many(alice, alice_client, url):
    add_outage(alice, 0)
    one = queries(alice_client, url)
    for n in range(1, 5):
        add_outage(alice, n)
    assert queries(alice_client, url) == one


@pytest.mark.parametrize("url", LISTS)
def test_a_lists_queries_do_not_grow_with_its_page_size(alice, alice_client, url):
    for n in range(6):
        add_outage(alice, n)
    small = queries(alice_client, f"{url}?page_size=1")
    # ping-results first looks for a recent window holding the page: one small count per
    # window tried (PingResultQuerySet.recent), at most len(RECENT_SPANS), never per row.
    extra = len(RECENT_SPANS) - 1 if url == "/api/ping-results/" else 0
    assert small <= queries(alice_client, f"{url}?page_size=500") <= small + extra


@pytest.mark.parametrize("window", ["24h", "7d", "30d", "90d"])
def test_history_and_uptime_cost_a_fixed_number_of_queries(alice, alice_client, window):
    server = make_server(alice)
    counts = []
    for days in (1, 60):
        now = timezone.now()
        pings = [make_ping(server, check_timestamp=now - timedelta(hours=h)) for h in range(0, 24 * days, 5)]
        recompute(p.check_timestamp for p in pings)
        for path in ("history", "uptime"):
            with CaptureQueriesContext(connection) as captured:
                assert alice_client.get(f"/api/servers/{server.pk}/{path}/?window={window}").status_code == 200
            counts.append(len(captured))
    assert counts[:2] == counts[2:], "more history costs the same number of queries"
