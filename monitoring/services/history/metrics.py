"""Prometheus metrics (SPEC §14): counting checks in the database, and the collector
``GET /metrics`` renders from it in two queries, however many servers there are.

``services.engine.recording.record`` calls ``count_checks(outcomes, lateness_seconds)`` once per
batch, inside the transaction that records those checks, so the counts commit with the
results or not at all and every scheduler process counts into the same rows.
"""

from __future__ import annotations

import bisect
import random
from collections import Counter
from collections.abc import Iterable, Iterator

from django.db import transaction
from django.db.models import Case, CharField, Count, F, FloatField, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Cast, Concat
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from monitoring.choices import DeliveryStatus, PingStatus, Status
from monitoring.models import CertificateCheck, MetricCounter, NotificationDelivery, Server, ServerLocation

# Upper bounds (seconds) of pulseguard_check_lateness_seconds; a check starts within 1 s (p99, SPEC §9).
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SHARDS = 8
CHECKS = "checks_total:"
LATENESS_BUCKET = "lateness_bucket:"  # per bucket, not cumulative; "+Inf" holds the rest
LATENESS_SUM = "lateness_sum"
DELIVERIES = "deliveries:"
SHARD_LOCK = "batches"  # per shard: taken first by every count_checks(); counts the batches
UP_STATUSES = {Status.UP: 1, Status.DEGRADED: 1, Status.DOWN: 0}


def bucket_label(seconds: float) -> str:
    """The label of the first bucket whose bound is at or above ``seconds``."""
    index = bisect.bisect_left(LATENESS_BUCKETS, seconds)
    return "+Inf" if index == len(LATENESS_BUCKETS) else repr(LATENESS_BUCKETS[index])


def increments(outcomes: Iterable[str], lateness_seconds: Iterable[float]) -> dict[str, float]:
    """What a batch adds to each counter key (pure)."""
    added: Counter[str] = Counter(f"{CHECKS}{outcome}" for outcome in outcomes)
    total = 0.0
    for seconds in lateness_seconds:
        seconds = max(float(seconds), 0.0)
        added[f"{LATENESS_BUCKET}{bucket_label(seconds)}"] += 1
        total += seconds
    result: dict[str, float] = dict(added)
    if total:
        result[LATENESS_SUM] = total
    return result


def count_checks(outcomes: Iterable[str], lateness_seconds: Iterable[float] = ()) -> None:
    """Add a batch of finished checks to the shared counters, in the caller's transaction.

    ``outcomes`` are PingStatus values, one per check; ``lateness_seconds`` one per scheduled
    check (start − due; checks nobody scheduled, like "check now", have none). Call it as the
    transaction's last write: it holds a shard's lock row until commit.

    1. Pick one of SHARDS shards at random, so concurrent recorders seldom meet.
    2. Take the shard's lock row first (an UPDATE of its batch count; created if missing).
       Every other row of the shard is touched only by the holder of that lock, so two
       recorders can wait for each other but never deadlock, whatever keys they add to.
    3. One UPDATE adds every increment; keys the shard does not have yet are created and
       updated after it.
    """
    added = increments(outcomes, lateness_seconds)
    if not added:
        return
    shard = random.randrange(SHARDS)
    with transaction.atomic(savepoint=False):
        if not _add(shard, {SHARD_LOCK: 1}):
            MetricCounter.objects.bulk_create([MetricCounter(key=SHARD_LOCK, shard=shard)], ignore_conflicts=True)
            _add(shard, {SHARD_LOCK: 1})
        if _add(shard, added) < len(added):
            have = set(MetricCounter.objects.filter(shard=shard, key__in=list(added)).values_list("key", flat=True))
            missing = {key: value for key, value in added.items() if key not in have}
            MetricCounter.objects.bulk_create([MetricCounter(key=key, shard=shard) for key in missing])
            _add(shard, missing)


def _add(shard: int, added: dict[str, float]) -> int:
    delta = Case(*(When(key=key, then=Value(value)) for key, value in added.items()), output_field=FloatField())
    return MetricCounter.objects.filter(shard=shard, key__in=list(added)).update(value=F("value") + delta)


# --- The scrape.


def server_rows(team_id: int | None = None) -> list[tuple[int, str, str, float | None, int | None]]:
    """Query 1: every server's (or one team's) id, name, status, last response time and certificate days left."""
    days = (
        CertificateCheck.objects.completed()
        .filter(server=OuterRef("pk"))
        .order_by("-checked_at", "-id")
        .values("days_remaining")[:1]
    )
    servers = Server.objects.all() if team_id is None else Server.objects.filter(team_id=team_id)
    return list(
        servers.order_by("id")
        .annotate(cert_days=Subquery(days))
        .values_list("id", "name", "status", "server_status__last_response_time", "cert_days")
    )


def location_rows(team_id: int | None = None) -> list[tuple[int, str, str, str, float | None]]:
    """``(server id, name, location slug, status, last response ms)`` of every server checked from
    more than one place (SPEC §20; ``ServerLocation`` rows, one query over serverlocation_unique)."""
    rows = ServerLocation.objects.all() if team_id is None else ServerLocation.objects.filter(server__team_id=team_id)
    return list(
        rows.order_by("server_id", "position").values_list(
            "server_id", "server__name", "location__slug", "status", "last_response_time"
        )
    )


def counter_totals(team_id: int | None = None) -> dict[str, float]:
    """Query 2: every counter summed over its shards, and deliveries counted by state.

    For one team: its deliveries only; the check counters are the install's, not a team's,
    and are left out.
    """
    counters = MetricCounter.objects.order_by().values("key").annotate(total=Sum("value"))
    deliveries = NotificationDelivery.objects.all()
    if team_id is not None:
        counters = counters.none()
        deliveries = deliveries.filter(config__team_id=team_id)
    deliveries = (
        deliveries.order_by()
        .annotate(key=Concat(Value(DELIVERIES), "status", output_field=CharField()))
        .values("key")
        .annotate(total=Cast(Count("id"), FloatField()))
    )
    return {key: total for key, total in counters.union(deliveries, all=True).values_list("key", "total")}


class DatabaseCollector:
    """A prometheus-client collector whose every scrape reads the database (three queries).

    Servers checked from several locations (SPEC §20) also have per-location series, with a
    ``location`` label: ``pulseguard_server_location_up`` and
    ``pulseguard_server_location_response_time_seconds`` (the server's own series stay as they were).

    With ``team_id`` (a team API key scraping, SPEC §17) it covers that team's servers and
    alert deliveries only, and leaves out the install-wide check counters.
    """

    def __init__(self, team_id: int | None = None) -> None:
        self.team_id = team_id

    def collect(self) -> Iterator[Metric]:
        rows = server_rows(self.team_id)
        totals = counter_totals(self.team_id)
        labels = ["server_id", "name"]
        up = GaugeMetricFamily(
            "pulseguard_server_up", "1 when the server is up or degraded, 0 when down.", labels=labels
        )
        status = GaugeMetricFamily(
            "pulseguard_server_status", "1 for the server's current status.", labels=[*labels, "status"]
        )
        response = GaugeMetricFamily(
            "pulseguard_server_response_time_seconds", "Response time of the last check.", labels=labels
        )
        cert = GaugeMetricFamily(
            "pulseguard_certificate_days_remaining", "Whole days until the TLS certificate expires.", labels=labels
        )
        per_status: Counter[str] = Counter()
        for server_id, name, current, response_ms, cert_days in rows:
            ids = [str(server_id), name]
            per_status[current] += 1
            if current in UP_STATUSES:
                up.add_metric(ids, UP_STATUSES[current])
            status.add_metric([*ids, current], 1)
            if response_ms is not None:
                response.add_metric(ids, response_ms / 1000)
            if cert_days is not None:
                cert.add_metric(ids, cert_days)
        yield from (up, status, response, cert)
        yield from self.location_series(location_rows(self.team_id))

        servers = GaugeMetricFamily("pulseguard_servers", "Servers by current status.", labels=["status"])
        for value in Status.values:
            servers.add_metric([value], per_status[value])
        yield servers

        if self.team_id is None:
            yield from self.check_counters(totals)

        deliveries = GaugeMetricFamily(
            "pulseguard_notification_deliveries", "Alert deliveries by state.", labels=["state"]
        )
        for state in DeliveryStatus.values:
            deliveries.add_metric([state], totals.get(f"{DELIVERIES}{state}", 0.0))
        yield deliveries

    @staticmethod
    def location_series(rows: list[tuple[int, str, str, str, float | None]]) -> Iterator[Metric]:
        labels = ["server_id", "name", "location"]
        up = GaugeMetricFamily(
            "pulseguard_server_location_up",
            "1 when the server is up or degraded at this location, 0 when down there.",
            labels=labels,
        )
        response = GaugeMetricFamily(
            "pulseguard_server_location_response_time_seconds",
            "Response time of the last check from this location.",
            labels=labels,
        )
        for server_id, name, slug, current, response_ms in rows:
            ids = [str(server_id), name, slug]
            if current in UP_STATUSES:
                up.add_metric(ids, UP_STATUSES[current])
            if response_ms is not None:
                response.add_metric(ids, response_ms / 1000)
        yield from (up, response)

    @staticmethod
    def check_counters(totals: dict[str, float]) -> Iterator[Metric]:
        checks = CounterMetricFamily("pulseguard_checks", "Checks finished, by outcome.", labels=["outcome"])
        for outcome in PingStatus.values:
            checks.add_metric([outcome], totals.get(f"{CHECKS}{outcome}", 0.0))
        yield checks

        cumulative, buckets = 0.0, []
        for label in [*map(repr, LATENESS_BUCKETS), "+Inf"]:
            cumulative += totals.get(f"{LATENESS_BUCKET}{label}", 0.0)
            buckets.append((label, cumulative))
        yield HistogramMetricFamily(
            "pulseguard_check_lateness_seconds",
            "How late scheduled checks started: start - due.",
            buckets=buckets,
            sum_value=totals.get(LATENESS_SUM, 0.0),
        )


def render(team_id: int | None = None) -> bytes:
    """The Prometheus text exposition of every metric above (of one team's, with ``team_id``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(team_id))  # type: ignore[arg-type]
    return generate_latest(registry)
