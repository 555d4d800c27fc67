"""Query counts of the API's endpoints, pinned as absolute baselines in one file (query_counts.json).

NetBox keeps its counts the same way (netbox/utilities/testing/query_counts.py): a change that
adds a query to an endpoint fails here until the file is updated on purpose, so an N+1 or a
lost ``select_related`` cannot slip in unnoticed. Every endpoint is measured twice, with one
server's rows and with several servers and two months of history: the counts must not differ
(a query per row would), and the second must equal the baseline.

To change a baseline on purpose, run ``UPDATE_QUERY_COUNTS=1 pytest api/tests/test_query_counts.py``
and commit the rewritten query_counts.json with the change that explains it.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import require_postgres
from monitoring.choices import DeliveryStatus, PingStatus, Status
from monitoring.models import (
    Announcement,
    CertificateCheck,
    Incident,
    MaintenanceWindow,
    NotificationConfig,
    NotificationDelivery,
    PingResult,
    Server,
    StatusChange,
    StatusPage,
)
from monitoring.services.alerts import rules
from monitoring.services.engine.checks import record_outcome
from monitoring.services.history.rollups import recompute
from monitoring.services.statuspage_posts import add_update, create_post
from monitoring.tests.factories import make_outcome, make_server

pytestmark = pytest.mark.django_db

BASELINES = Path(__file__).with_name("query_counts.json")
UPDATE = os.environ.get("UPDATE_QUERY_COUNTS", "") in {"1", "true", "yes"}
WINDOWS = ("24h", "7d", "30d", "90d")
# {server} is the first server's id; every list shows several rows once the data has grown.
ENDPOINTS = [
    "/api/servers/",
    "/api/servers/{server}/",
    *(f"/api/servers/{{server}}/history/?window={w}" for w in WINDOWS),
    *(f"/api/servers/{{server}}/uptime/?window={w}" for w in WINDOWS),
    "/api/servers/{server}/certificate/",
    "/api/ping-results/",
    "/api/ping-results/?server={server}",
    "/api/ping-results/?location=local",
    "/api/server-status/",
    "/api/notification-configs/",
    "/api/notification-deliveries/",
    "/api/incidents/",
    "/api/certificates/",
    "/api/status-pages/",
    "/api/status-pages/acme/summary/",
    "/api/status-pages/{page}/posts/",
    "/api/status-pages/{page}/announcements/",
    "/api/maintenance-windows/",
    "/api/config/export/",
    "/api/locations/",
]


def add_history(server: Server, days: int) -> None:
    """A check every 5 hours over the last ``days`` (before now), rolled up."""
    now = timezone.now()
    times = [now - timedelta(hours=h) for h in range(5, 24 * days, 5)]
    PingResult.objects.bulk_create(
        PingResult(server=server, status=PingStatus.SUCCESS, response_time=12.5, check_timestamp=t) for t in times
    )
    recompute(times)


def add_servers(owner: User, names: range, history_days: int) -> list[Server]:
    """Servers that each went down with a config to alert (a ping, a change, an incident, a
    delivery), with a certificate check and ``history_days`` of checks."""
    servers = []
    now = timezone.now()
    for n in names:
        server = make_server(owner, name=f"s{n}", tags=["prod"])
        NotificationConfig.objects.create_for(server, notification_type="email", recipient=f"ops{n}@example.com")
        add_history(server, history_days)
        record_outcome(server, make_outcome(ok=False))
        CertificateCheck.objects.create(server=server, valid=True, days_remaining=60, expires_at=now + timedelta(60))
        servers.append(server)
    return servers


def add_posts(page: StatusPage, servers: list[Server], n: int) -> None:
    """``n`` open and ``n`` resolved incident posts naming ``servers``, and ``n`` announcements."""
    for i in range(n):
        create_post(page, title=f"open {i}", status="investigating", message="*a*", servers=servers)
        done = create_post(page, title=f"done {i}", status="identified", message="b", servers=servers)
        add_update(done, status="resolved", message="c")
        Announcement.objects.create(page=page, notice=f"notice {i}")


def measure(client: APIClient, server: Server, page: StatusPage) -> dict[str, int]:
    counts = {}
    for endpoint in ENDPOINTS:
        url = endpoint.format(server=server.pk, page=page.pk)
        cache.clear()  # the status-page summary is cached: count its uncached path
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, (url, response.content[:500])
        counts[endpoint] = len(captured)
    return counts


def test_every_endpoint_makes_its_baseline_number_of_queries_whatever_the_rows(
    alice: User, alice_client: APIClient, bob: User
) -> None:
    add_servers(bob, range(100, 102), history_days=1)  # another user's rows are never read
    first, *_ = add_servers(alice, range(1), history_days=1)
    page = StatusPage.objects.create(owner=alice, slug="acme", title="Acme", is_public=True, tags=["prod"])
    window = MaintenanceWindow.objects.create(owner=alice, name="Patch", tags=["prod"])
    page.servers.add(first)
    window.servers.add(first)
    add_posts(page, [first], 1)
    few = measure(alice_client, first, page)

    add_history(first, days=60)
    more = add_servers(alice, range(1, 5), history_days=1)
    page.servers.add(*more)
    window.servers.add(*more)
    MaintenanceWindow.objects.create(owner=alice, name="Upgrade", tags=["db"]).servers.add(*more)
    StatusPage.objects.create(owner=alice, slug="internal", title="Internal").servers.add(*more)
    add_posts(page, more, 3)
    many = measure(alice_client, first, page)

    grew = {url: f"{few[url]} → {many[url]}" for url in ENDPOINTS if few[url] != many[url]}
    assert not grew, f"queries grow with the rows (a query per row?): {grew}"
    if UPDATE:
        BASELINES.write_text(json.dumps(many, indent=2) + "\n")
    baselines = json.loads(BASELINES.read_text())
    changed = {url: f"{baselines.get(url)} → {count}" for url, count in many.items() if baselines.get(url) != count}
    assert not changed, (
        f"query counts differ from {BASELINES.name} (baseline → now): {changed}. If that is on purpose, "
        f"run UPDATE_QUERY_COUNTS=1 pytest {Path(__file__).relative_to(settings.BASE_DIR)} and commit the file."
    )
    assert baselines.keys() == many.keys(), "the file lists endpoints this test no longer measures"


# --- Alerts for a batch of status changes (services.alerts.rules.on_status_changes) ---------------
# Statements for one batch, whatever its size: read the open incidents, the notification
# switches, the configs, the last alerts (cooldown) and the DOWNs that recoveries end; suppress
# the DOWNs of servers entering maintenance; insert the incidents, close the others; insert
# the deliveries; and (SPEC §18) the dependencies that are down and the teams that can flood.
ALERT_BATCH_STATEMENTS = 11


def changes_of_every_kind(owner, size: int) -> list[StatusChange]:
    """``size`` servers with a config each, in four groups, and one change per server: up → down,
    down → up (a recovery), down → maintenance, up → degraded. The groups that start down went
    down in an earlier batch, so they have an open incident and a pending DOWN."""
    servers = Server.objects.bulk_create(
        [
            Server(owner=owner, team=owner.personal_team, name=f"b{n}", protocol="http", host="127.0.0.1", port=80)
            for n in range(size)
        ]
    )
    configs = NotificationConfig.objects.bulk_create(
        [
            NotificationConfig(
                team_id=s.team_id, notification_type="webhook", recipient="http://127.0.0.1:9/h", secret="s"
            )
            for s in servers
        ]
    )
    link = NotificationConfig.servers.through
    link.objects.bulk_create([link(notificationconfig=c, server=s) for c, s in zip(configs, servers, strict=True)])
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
    rules.on_status_changes(earlier)
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
        queued = rules.on_status_changes(changes)
    assert len(captured) == ALERT_BATCH_STATEMENTS, [q["sql"][:120] for q in captured]
    # Every kind did its work: a DOWN and a recovery per server of those groups, a degraded, and
    # the DOWNs of the servers in maintenance were suppressed and their maintenance_start queued.
    events = sorted(d.event for d in queued)
    assert events == sorted(["down", "recovery", "degraded", "maintenance_start"] * (size // 4))
    assert Incident.objects.open().count() == size // 4 * 2  # the new outages and those in maintenance
    assert NotificationDelivery.objects.filter(status=DeliveryStatus.SUPPRESSED).count() == size // 4
