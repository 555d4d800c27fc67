"""Ping results (cursor pages, since/until) and current server status, read only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.choices import PingStatus
from monitoring.models import PingResult, ServerStatus
from monitoring.tests.factories import make_ping, make_server
from tests.crud import CrudCases

pytestmark = pytest.mark.django_db


class TestPingResultReadOnly(CrudCases):
    url = "/api/ping-results/"
    model = PingResult
    update_payload = {"status": "failure"}
    read_only = True

    def make(self, owner):
        return make_ping(make_server(owner))


class TestServerStatusReadOnly(CrudCases):
    url = "/api/server-status/"
    model = ServerStatus
    update_payload = {"message": "edited"}
    read_only = True

    def make(self, owner):
        return make_server(owner).server_status


def test_ping_results_walk_newest_first_in_cursor_pages(alice, alice_client):
    server = make_server(alice)
    now = timezone.now()
    pings = [make_ping(server, check_timestamp=now - timedelta(minutes=n)) for n in range(7)]
    r = alice_client.get("/api/ping-results/?page_size=3")
    body = r.json()
    assert set(body) >= {"next", "previous", "results"}
    seen = [row["id"] for row in body["results"]]
    while body["next"]:
        body = alice_client.get(body["next"]).json()
        seen += [row["id"] for row in body["results"]]
    assert seen == [p.pk for p in pings]


def test_page_size_is_capped_at_500(alice, alice_client):
    server = make_server(alice)
    PingResult.objects.bulk_create([PingResult(server=server, status="success") for _ in range(501)])
    assert len(alice_client.get("/api/ping-results/?page_size=10000").json()["results"]) == 500
    assert len(alice_client.get("/api/ping-results/").json()["results"]) == 50


def test_ping_results_filter_by_server_status_since_and_until(alice, alice_client):
    a, b = make_server(alice, name="a"), make_server(alice, name="b")
    now = timezone.now()
    old = make_ping(a, check_timestamp=now - timedelta(hours=2))
    fail = make_ping(a, PingStatus.FAILURE, check_timestamp=now - timedelta(minutes=5))
    other = make_ping(b, check_timestamp=now - timedelta(minutes=1))

    def ids(query, **params):
        r = alice_client.get(f"/api/ping-results/?{query}", params)
        assert r.status_code == 200, r.content
        return {row["id"] for row in r.json()["results"]}

    assert ids(f"server={a.pk}") == {old.pk, fail.pk}
    assert ids("status=failure") == {fail.pk}
    assert ids("", since=(now - timedelta(hours=1)).isoformat()) == {fail.pk, other.pk}
    assert ids("", until=(now - timedelta(hours=1)).isoformat()) == {old.pk}


@pytest.mark.parametrize("query", ["since=yesterday", "until=2026-13-01", "status=sideways", "server=abc"])
def test_bad_history_filters_are_a_400(alice_client, query):
    r = alice_client.get(f"/api/ping-results/?{query}")
    assert r.status_code == 400
    assert query.split("=")[0] in r.json()


def test_server_status_shows_the_current_status(alice, alice_client):
    server = make_server(alice, name="api")
    row = alice_client.get("/api/server-status/").json()["results"][0]
    assert row["server"] == server.pk and row["server_name"] == "api" and row["status"] == "unknown"


def test_pages_of_all_results_are_the_same_whatever_window_holds_them(alice, alice_client):
    server = make_server(alice)
    now = timezone.now()
    # Some in the last minute, some hours back, some weeks back: every recent window is tried.
    ages = [timedelta(seconds=5 * n) for n in range(4)] + [timedelta(hours=n) for n in (2, 3, 30)]
    ages += [timedelta(days=n) for n in (10, 40)]
    pings = [make_ping(server, check_timestamp=now - age) for age in ages]
    seen, url = [], "/api/ping-results/?page_size=3"
    while url:
        body = alice_client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == [p.pk for p in pings]
    assert PingResult.objects.recent(2).count() == 4  # the last minute holds the newest two
    assert PingResult.objects.recent(100).count() == len(pings)  # no window is enough: all of them
