"""No N+1: every list endpoint costs the same number of queries for one server's rows or many."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import require_postgres
from monitoring.choices import DeliveryStatus, Status
from monitoring.models import Incident, NotificationConfig, NotificationDelivery, Server, StatusChange
from monitoring.models.results import RECENT_SPANS
from monitoring.services import alerts
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


# --- Alerts for a batch of status changes (services.alerts.on_status_changes) ---------------
# Statements for one batch, whatever its size: read the open incidents, the notification
# switches, the configs, the last alerts (cooldown) and the DOWNs that recoveries end; suppress
# the DOWNs of servers entering maintenance; insert the incidents, close the others; insert
# the deliveries.
ALERT_BATCH_STATEMENTS = 9


def changes_of_every_kind(owner, size: int) -> list[StatusChange]:
    """``size`` servers with a config each, in four groups, and one change per server: up → down,
    down → up (a recovery), down → maintenance, up → degraded. The groups that start down went
    down in an earlier batch, so they have an open incident and a pending DOWN."""
    servers = Server.objects.bulk_create(
        [Server(owner=owner, name=f"b{n}", protocol="http", host="127.0.0.1", port=80) for n in range(size)]
    )
    NotificationConfig.objects.bulk_create(
        [
            NotificationConfig(server=s, notification_type="webhook", recipient="http://127.0.0.1:9/h", secret="s")
            for s in servers
        ]
    )
    NotificationConfig.objects.update(notify_on_degraded=True)
    kinds = [
        (Status.UP, Status.DOWN),
        (Status.DOWN, Status.UP),
        (Status.DOWN, Status.MAINTENANCE),
        (Status.UP, Status.DEGRADED),
    ]
    now = timezone.now()
    earlier = StatusChange.objects.bulk_create(
        [
            StatusChange(server=s, previous_status=Status.UP, status=Status.DOWN, changed_at=now - timedelta(minutes=5))
            for n, s in enumerate(servers)
            if kinds[n % 4][0] == Status.DOWN
        ]
    )
    alerts.on_status_changes(earlier)
    return StatusChange.objects.bulk_create(
        [
            StatusChange(server=s, previous_status=kinds[n % 4][0], status=kinds[n % 4][1], changed_at=now)
            for n, s in enumerate(servers)
        ]
    )


@pytest.mark.parametrize("size", [4, 40, 500])
def test_alerts_for_a_batch_of_changes_cost_a_fixed_number_of_statements(alice, size):
    if size > 40:
        require_postgres()  # SQLite splits bulk writes at 999 parameters
    changes = changes_of_every_kind(alice, size)
    with CaptureQueriesContext(connection) as captured:
        queued = alerts.on_status_changes(changes)
    assert len(captured) == ALERT_BATCH_STATEMENTS, [q["sql"][:120] for q in captured]
    # Every kind did its work: a DOWN and a recovery per server of those groups, a degraded, and
    # the DOWNs of the servers in maintenance were suppressed.
    events = sorted(d.event for d in queued)
    assert events == sorted(["down", "recovery", "degraded"] * (size // 4))
    assert Incident.objects.open().count() == size // 4 * 2  # the new outages and those in maintenance
    assert NotificationDelivery.objects.filter(status=DeliveryStatus.SUPPRESSED).count() == size // 4
