"""GET /metrics (SPEC §14): who may scrape, what it says, and that it costs three queries
whatever the number of servers; the counters shared by every recording process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.choices import DeliveryStatus, PingStatus, Status
from monitoring.models import (
    CertificateCheck,
    MetricCounter,
    NotificationDelivery,
    ProbeLocation,
    Server,
    ServerLocation,
    ServerStatus,
)
from monitoring.services.history import metrics
from monitoring.tasks.claims import claim_due, new_owner
from monitoring.tasks.engine import run_check, run_once
from monitoring.tests.alerting import go_down, go_up, make_config, make_server

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests-0123456789"


def scrape(client: Client | None = None, **extra: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def labels(**values: object) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in values.items()))


# --- Who may scrape.


def test_without_a_token_only_loopback_clients_are_answered():
    assert Client().get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200
    outside = Client().get("/metrics", REMOTE_ADDR="203.0.113.7")
    assert outside.status_code == 403 and b"METRICS_TOKEN" in outside.content


@override_settings(METRICS_TOKEN=TOKEN)
def test_with_a_token_every_client_needs_it():
    assert Client().get("/metrics").status_code == 401  # loopback is not enough then
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope", REMOTE_ADDR="203.0.113.7")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    ok = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", REMOTE_ADDR="203.0.113.7")
    assert ok.status_code == 200


def test_only_get(alice):
    assert Client().post("/metrics").status_code == 405


# --- What it says.


@override_settings(METRICS_TOKEN=TOKEN)
def test_prometheus_with_the_token_scrapes_every_servers_status(alice, bob):
    """Done-when: Prometheus pointed at /metrics with the token scrapes every server's status."""
    up = make_server(alice, name="up-one")
    go_up(up)
    down = make_server(alice, name="down-one")
    go_down(down)
    slow = make_server(bob, name="slow-one", degraded_threshold_ms=1)
    go_up(slow, response_time=250.0)
    paused = make_server(bob, name="paused-one", is_active=False)
    fresh = make_server(alice, name='quote"and\\slash')
    samples = scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}", REMOTE_ADDR="203.0.113.7")

    for server, word in ((up, "up"), (down, "down"), (slow, "degraded"), (paused, "paused"), (fresh, "unknown")):
        key = ("pulseguard_server_status", labels(server_id=server.pk, name=server.name, status=word))
        assert samples[key] == 1, key
    assert samples[("pulseguard_server_up", labels(server_id=up.pk, name="up-one"))] == 1
    assert samples[("pulseguard_server_up", labels(server_id=slow.pk, name="slow-one"))] == 1
    assert samples[("pulseguard_server_up", labels(server_id=down.pk, name="down-one"))] == 0
    assert ("pulseguard_server_up", labels(server_id=paused.pk, name="paused-one")) not in samples
    assert samples[("pulseguard_server_response_time_seconds", labels(server_id=slow.pk, name="slow-one"))] == 0.25
    for word, count in (("up", 1), ("down", 1), ("degraded", 1), ("paused", 1), ("unknown", 1), ("maintenance", 0)):
        assert samples[("pulseguard_servers", labels(status=word))] == count


def test_certificate_days_come_from_each_servers_latest_completed_check(alice):
    server = make_server(alice, name="tls", protocol="https", port=443)
    now = timezone.now()
    CertificateCheck.objects.create(server=server, checked_at=now - timedelta(days=1), days_remaining=40)
    CertificateCheck.objects.create(server=server, checked_at=now, days_remaining=39)
    CertificateCheck.objects.create(server=server, checked_at=now + timedelta(seconds=1), in_progress=True)
    other = make_server(alice, name="no-tls")
    samples = scrape()
    assert samples[("pulseguard_certificate_days_remaining", labels(server_id=server.pk, name="tls"))] == 39
    assert ("pulseguard_certificate_days_remaining", labels(server_id=other.pk, name="no-tls")) not in samples


def test_checks_are_counted_by_outcome_and_deliveries_by_state(alice):
    server = make_server(alice)
    make_config(server)
    go_up(server)
    go_up(server)
    go_down(server)  # queues one pending DOWN delivery
    NotificationDelivery.objects.update(status=DeliveryStatus.FAILED)
    samples = scrape()
    assert samples[("pulseguard_checks_total", labels(outcome="success"))] == 2
    assert samples[("pulseguard_checks_total", labels(outcome="failure"))] == 1
    assert samples[("pulseguard_checks_total", labels(outcome="timeout"))] == 0
    assert samples[("pulseguard_notification_deliveries", labels(state="failed"))] == 1
    assert samples[("pulseguard_notification_deliveries", labels(state="pending"))] == 0


def test_count_checks_adds_batches_and_lateness_into_cumulative_buckets():
    metrics.count_checks([PingStatus.SUCCESS, PingStatus.TIMEOUT, PingStatus.SUCCESS], [0.02, 0.3, 75.0])
    metrics.count_checks([PingStatus.ERROR], [1.0])
    metrics.count_checks([], [])
    samples = scrape()
    assert samples[("pulseguard_checks_total", labels(outcome="success"))] == 2
    assert samples[("pulseguard_checks_total", labels(outcome="error"))] == 1
    bucket = "pulseguard_check_lateness_seconds_bucket"
    assert samples[(bucket, labels(le="0.05"))] == 1
    assert samples[(bucket, labels(le="0.25"))] == 1
    assert samples[(bucket, labels(le="0.5"))] == 2
    assert samples[(bucket, labels(le="1.0"))] == 3
    assert samples[(bucket, labels(le="60.0"))] == 3
    assert samples[(bucket, labels(le="+Inf"))] == 4
    assert samples[("pulseguard_check_lateness_seconds_count", ())] == 4
    assert samples[("pulseguard_check_lateness_seconds_sum", ())] == pytest.approx(76.32)


def test_counters_are_spread_over_shards_and_summed(monkeypatch):
    shards = iter([0, 3, 3])
    monkeypatch.setattr(metrics.random, "randrange", lambda n: next(shards))
    for _ in range(3):
        metrics.count_checks([PingStatus.SUCCESS])
    rows = dict(MetricCounter.objects.filter(key="checks_total:success").values_list("shard", "value"))
    assert rows == {0: 1, 3: 2}
    assert scrape()[("pulseguard_checks_total", labels(outcome="success"))] == 3


def test_a_scheduled_check_records_how_late_it_started(alice, http_target):
    http_target.set("/", 200, "ok")
    server = make_server(alice, port=http_target.port)
    Server.objects.filter(pk=server.pk).update(next_check_at=timezone.now() - timedelta(seconds=12))
    owner = new_owner()
    run_once(claim_due(timezone.now(), owner=owner), claimed_by=owner)
    run_check(Server.objects.get(pk=server.pk))  # "check now": counted, but no lateness
    samples = scrape()
    assert samples[("pulseguard_checks_total", labels(outcome="success"))] == 2
    assert samples[("pulseguard_check_lateness_seconds_count", ())] == 1
    assert samples[("pulseguard_check_lateness_seconds_bucket", labels(le="10.0"))] == 0
    assert samples[("pulseguard_check_lateness_seconds_bucket", labels(le="30.0"))] == 1
    assert 12 <= samples[("pulseguard_check_lateness_seconds_sum", ())] < 30  # 18 s for a slow machine


# --- Cost.


def test_a_scrape_costs_three_queries_whatever_the_number_of_servers(alice):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            scrape()
        return len(captured)

    make_server(alice, name="first")
    one = queries()
    servers = Server.objects.bulk_create(
        [
            Server(owner=alice, team=alice.personal_team, name=f"s{i}", protocol="https", host="example.com")
            for i in range(50)
        ]
    )
    ServerStatus.objects.bulk_create([ServerStatus(server=s, status=Status.UNKNOWN) for s in servers])
    CertificateCheck.objects.bulk_create([CertificateCheck(server=s, days_remaining=9) for s in servers])
    metrics.count_checks([PingStatus.SUCCESS], [0.1])
    assert one == queries() == 3
    assert len([k for k in scrape() if k[0] == "pulseguard_server_status"]) == 51


def test_the_body_is_what_prometheus_client_writes(alice):
    """The text is written by hand for speed (issue 20); it must stay the exposition prometheus-client
    writes for the same samples, byte for byte: escaping, float format, label order, histogram."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    odd = make_server(alice, name='quote" back\\ new\nline')
    go_up(odd, response_time=1234567.0)
    CertificateCheck.objects.create(server=odd, checked_at=timezone.now(), days_remaining=12)
    down = make_server(alice, name="down")
    go_down(down)
    metrics.count_checks([PingStatus.SUCCESS, PingStatus.ERROR], [0.02, 75.0])  # go_up and go_down counted one each

    class Expected:
        def collect(self):
            ids = ["server_id", "name"]
            up = GaugeMetricFamily(
                "pulseguard_server_up", "1 when the server is up or degraded, 0 when down.", labels=ids
            )
            status = GaugeMetricFamily(
                "pulseguard_server_status", "1 for the server's current status.", labels=[*ids, "status"]
            )
            response = GaugeMetricFamily(
                "pulseguard_server_response_time_seconds", "Response time of the last check.", labels=ids
            )
            cert = GaugeMetricFamily(
                "pulseguard_certificate_days_remaining", "Whole days until the TLS certificate expires.", labels=ids
            )
            up.add_metric([str(odd.pk), odd.name], 1)
            up.add_metric([str(down.pk), "down"], 0)
            status.add_metric([str(odd.pk), odd.name, "up"], 1)
            status.add_metric([str(down.pk), "down", "down"], 1)
            response.add_metric([str(odd.pk), odd.name], 1234.567)
            response.add_metric([str(down.pk), "down"], down.server_status.last_response_time / 1000)
            cert.add_metric([str(odd.pk), odd.name], 12)
            yield from (up, status, response, cert)
            where = [*ids, "location"]  # no server here has several locations: the families alone
            yield GaugeMetricFamily(
                "pulseguard_server_location_up",
                "1 when the server is up or degraded at this location, 0 when down there.",
                labels=where,
            )
            yield GaugeMetricFamily(
                "pulseguard_server_location_response_time_seconds",
                "Response time of the last check from this location.",
                labels=where,
            )
            servers = GaugeMetricFamily("pulseguard_servers", "Servers by current status.", labels=["status"])
            for value in Status.values:
                servers.add_metric([value], {"up": 1, "down": 1}.get(value, 0))
            yield servers
            checks = CounterMetricFamily("pulseguard_checks", "Checks finished, by outcome.", labels=["outcome"])
            for outcome in PingStatus.values:
                checks.add_metric([outcome], {"success": 2, "failure": 1, "error": 1}.get(outcome, 0))
            yield checks
            buckets = [(repr(b), 1.0) for b in metrics.LATENESS_BUCKETS] + [("+Inf", 2.0)]  # 0.02 s, 75 s
            yield HistogramMetricFamily(
                "pulseguard_check_lateness_seconds", "How late scheduled checks started: start - due.",
                buckets=buckets, sum_value=75.02,
            )  # fmt: skip
            deliveries = GaugeMetricFamily(
                "pulseguard_notification_deliveries", "Alert deliveries by state.", labels=["state"]
            )
            for state in DeliveryStatus.values:
                deliveries.add_metric([state], 0)
            yield deliveries

    down.server_status.refresh_from_db()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Expected())
    assert Client().get("/metrics").content.decode() == generate_latest(registry).decode()


def test_a_server_checked_from_several_locations_has_series_per_location(alice):
    server = make_server(alice, name="shop")
    paris = ProbeLocation.objects.create(name="Paris", slug="paris")
    ServerLocation.objects.create(
        server=server, location=ProbeLocation.objects.local(), position=0, status=Status.UP, last_response_time=120
    )
    ServerLocation.objects.create(server=server, location=paris, position=1, status=Status.DOWN)
    make_server(alice, name="alone")  # one location: the server's own series only
    samples = scrape()
    local = labels(server_id=server.pk, name="shop", location="local")
    there = labels(server_id=server.pk, name="shop", location="paris")
    assert samples[("pulseguard_server_location_up", local)] == 1
    assert samples[("pulseguard_server_location_up", there)] == 0
    assert samples[("pulseguard_server_location_response_time_seconds", local)] == 0.12
    assert ("pulseguard_server_location_response_time_seconds", there) not in samples
    assert [key for key in samples if key[0] == "pulseguard_server_location_up"] == [
        ("pulseguard_server_location_up", local),
        ("pulseguard_server_location_up", there),
    ]
