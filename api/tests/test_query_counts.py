"""No N+1: every list endpoint costs the same number of queries for one server's rows or many."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.models import NotificationConfig
from monitoring.services.checks import record_outcome
from monitoring.tests.factories import make_outcome, make_server

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
