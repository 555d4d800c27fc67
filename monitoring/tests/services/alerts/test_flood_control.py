"""Flood control (SPEC §18): many servers of one team DOWN at once make one alert per destination."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus
from monitoring.models import NotificationDelivery
from monitoring.services.alerts import delivery
from monitoring.services.alerts.delivery import send_pending
from monitoring.tests.alerting import go_down, go_up, make_config, make_server
from tests.concurrency import at_once
from tests.targets import LocalHTTPServer

pytestmark = pytest.mark.django_db

DESTINATIONS = ("/a", "/b")


def fleet(owner, receiver: LocalHTTPServer, size: int = 20) -> list:
    """``size`` servers of one team, and one team webhook config per destination attached to
    them all (SPEC §18: a config serves many servers)."""
    for path in DESTINATIONS:
        receiver.set(path, 200)
    servers = [make_server(owner, name=f"node-{n:02d}") for n in range(size)]
    for path in DESTINATIONS:
        make_config(servers[0], recipient=receiver.url(path)).servers.set(servers)
    return servers


def bodies(receiver: LocalHTTPServer, path: str) -> list[dict]:
    return [r.json() for r in receiver.requests if r.path == path]


def test_a_flood_of_20_servers_makes_one_grouped_alert_per_destination_and_one_grouped_recovery(alice):
    with LocalHTTPServer() as receiver:
        servers = fleet(alice, receiver)
        t0 = timezone.now()
        for server in servers:
            go_down(server, t0)
        rows = NotificationDelivery.objects.filter(event=AlertEvent.DOWN)
        assert rows.count() == 40, "every (change, config) keeps its row"
        # Held so that the flood is grouped from its first server: nothing is due yet.
        assert set(rows.values_list("next_attempt_at", flat=True)) == {t0 + timedelta(seconds=5)}
        assert send_pending(now=t0 + timedelta(seconds=1)) == 0

        assert send_pending(now=t0 + timedelta(seconds=6)) == 2  # one lead per destination
        for path in DESTINATIONS:
            (body,) = bodies(receiver, path)
            assert body["event"] == "down" and "server" not in body
            assert sorted(s["name"] for s in body["servers"]) == [s.name for s in servers]
            assert body["message"].startswith("20 servers are DOWN: node-00, node-01")
        sent = rows.filter(status=DeliveryStatus.SENT)
        assert sent.count() == 2 and all(d.group_id == d.pk for d in sent)
        members = rows.filter(status=DeliveryStatus.GROUPED)
        assert members.count() == 38
        assert not members.filter(delivered_at__isnull=True).exists(), "members take the lead's delivery"
        assert set(members.values_list("group_id", flat=True)) == {d.pk for d in sent}

        t1 = t0 + timedelta(minutes=5)
        for server in servers:
            go_up(server, t1)
        recoveries = NotificationDelivery.objects.filter(event=AlertEvent.RECOVERY)
        assert recoveries.count() == 40
        assert set(recoveries.values_list("next_attempt_at", flat=True)) == {t1 + timedelta(seconds=5)}
        assert send_pending(now=t1 + timedelta(seconds=6)) == 2
        assert send_pending(now=t1 + timedelta(seconds=7)) == 0
    for path in DESTINATIONS:
        down, recovery = bodies(receiver, path)
        assert recovery["event"] == "recovery" and len(recovery["servers"]) == 20
        assert {s["downtime_seconds"] for s in recovery["servers"]} == {300}
    assert recoveries.filter(status=DeliveryStatus.GROUPED, delivered_at__isnull=False).count() == 38


def test_below_the_threshold_each_server_is_alerted_on_its_own(alice):
    with LocalHTTPServer() as receiver:
        servers = fleet(alice, receiver)
        t0 = timezone.now()
        for server in servers[:10]:  # ten is not more than ALERT_GROUP_THRESHOLD
            go_down(server, t0)
        assert send_pending(now=t0 + timedelta(seconds=6)) == 20
    for path in DESTINATIONS:
        assert sorted(b["server"]["name"] for b in bodies(receiver, path)) == [s.name for s in servers[:10]]
        assert all("servers" not in b for b in bodies(receiver, path))
    assert not NotificationDelivery.objects.filter(group__isnull=False).exists()


def test_a_small_team_is_not_held(alice, settings):
    settings.ALERT_GROUP_THRESHOLD = 25  # the team's 20 servers can never be more than that
    with LocalHTTPServer() as receiver:
        servers = fleet(alice, receiver)
        t0 = timezone.now()
        go_down(servers[0], t0)
        assert set(NotificationDelivery.objects.values_list("next_attempt_at", flat=True)) == {t0}


def test_a_sender_dying_after_grouping_loses_nothing_and_the_next_sends_the_same_group(alice):
    with LocalHTTPServer() as receiver:
        servers = fleet(alice, receiver)
        t0 = timezone.now()
        for server in servers:
            go_down(server, t0)
        # A sender claims (and groups) then dies before sending: its leases are left behind.
        claimed = delivery.claim(t0 + timedelta(seconds=6), limit=50)
        assert len(claimed) == 2 and all(len(d.members) == 20 for d in claimed)
        assert receiver.requests == []
        # Another sender before the lease lapses finds nothing to do ...
        assert send_pending(now=t0 + timedelta(seconds=7)) == 0
        # ... and after it, re-claims the leads and sends each group once, with the same servers.
        later = t0 + timedelta(seconds=6) + delivery.lease() + timedelta(seconds=1)
        assert send_pending(now=later) == 2
    for path in DESTINATIONS:
        (body,) = bodies(receiver, path)
        assert len(body["servers"]) == 20
    rows = NotificationDelivery.objects.all()
    assert rows.filter(status=DeliveryStatus.SENT, attempts=2).count() == 2
    assert rows.filter(status=DeliveryStatus.GROUPED, delivered_at__isnull=False).count() == 38


def test_a_failing_lead_hands_its_failure_to_its_members(alice, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 1
    with LocalHTTPServer() as receiver:
        servers = fleet(alice, receiver)
        receiver.set("/a", 400, "no")
        t0 = timezone.now()
        for server in servers:
            go_down(server, t0)
        send_pending(now=t0 + timedelta(seconds=6))
    failed = NotificationDelivery.objects.filter(config__recipient=receiver.url("/a"), status=DeliveryStatus.FAILED)
    assert failed.count() == 20
    assert all("HTTP 400" in d.last_error for d in failed)
    assert (
        NotificationDelivery.objects.filter(config__recipient=receiver.url("/b"), delivered_at__isnull=False).count()
        == 20
    )


@pytest.mark.django_db(transaction=True)
def test_senders_racing_for_a_flood_send_each_alert_exactly_once(alice):
    with LocalHTTPServer() as receiver:
        servers = fleet(alice, receiver)
        t0 = timezone.now()
        for server in servers:
            go_down(server, t0)
        at = t0 + timedelta(seconds=6)
        assert at_once(lambda _: send_pending(now=at), threads=3) == []
        assert send_pending(now=at) == 0
    for path in DESTINATIONS:
        # As a receiver does (SPEC §23): a repeat of one delivery id (a retry after a connection
        # dropped on a loaded machine) is dropped. Two groups naming one server would not be.
        messages = {r.headers["X-PulseGuard-Delivery"]: r.json() for r in receiver.requests if r.path == path}
        named = [s["name"] for b in messages.values() for s in b.get("servers", [b.get("server")])]
        assert sorted(named) == [s.name for s in servers], "every server once, none twice"
    assert not NotificationDelivery.objects.filter(delivered_at__isnull=True).exists()


def test_check_servers_waits_for_the_held_downs_of_its_pass_under_cron(alice):
    from monitoring.services.alerts import grouping

    with LocalHTTPServer() as receiver:
        servers = fleet(alice, receiver)
        slept: list[float] = []
        assert grouping.wait_for_held(sleep=slept.append) == 0.0 and slept == []
        t0 = timezone.now()
        go_down(servers[0], t0)
        assert grouping.wait_for_held(t0 + timedelta(seconds=1), sleep=slept.append) == 4.0
        assert slept == [4.0]
