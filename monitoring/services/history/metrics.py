"""Prometheus metrics (SPEC §14): counting checks in the database, and the text
``GET /metrics`` renders from it in two queries, however many servers there are.

``services.engine.recording.record`` calls ``count_checks(outcomes, lateness_seconds)`` once per
batch, inside the transaction that records those checks, so the counts commit with the
results or not at all and every scheduler process counts into the same rows.
"""

from __future__ import annotations

import bisect
import random
from collections import Counter
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Case, CharField, Count, F, FloatField, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Cast, Concat
from prometheus_client.utils import floatToGoString

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


# One line per sample, written here rather than through prometheus-client's collector objects:
# at 10,000 servers (35,000 samples) building and formatting those objects was 180 of a scrape's
# 210 ms. The text is the same, byte for byte, as prometheus-client's ``generate_latest`` writes
# (labels in name order, values as Go prints floats).
ONE, ZERO = floatToGoString(1), floatToGoString(0)


def _label(value: str) -> str:
    """A label value escaped as the text format needs (backslash, newline, double quote)."""
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _family(out: list[str], name: str, kind: str, documentation: str) -> None:
    out.append(f"# HELP {name} {documentation}\n# TYPE {name} {kind}\n")


def render(team_id: int | None = None) -> bytes:
    """The Prometheus text exposition of every metric (of one team's, with ``team_id``), in three queries.

    Servers checked from several locations (SPEC §20) also have per-location series, with a
    ``location`` label: ``pulseguard_server_location_up`` and
    ``pulseguard_server_location_response_time_seconds`` (the server's own series stay as they were).

    With ``team_id`` (a team API key scraping, SPEC §17) it covers that team's servers and
    alert deliveries only, and leaves out the install-wide check counters.
    """
    rows = server_rows(team_id)
    totals = counter_totals(team_id)
    up, status, response, cert = [], [], [], []
    per_status: Counter[str] = Counter()
    for server_id, name, current, response_ms, cert_days in rows:
        ids = f'{{name="{_label(name)}",server_id="{server_id}"'
        per_status[current] += 1
        if current in UP_STATUSES:
            up.append(f"pulseguard_server_up{ids}}} {ONE if UP_STATUSES[current] else ZERO}\n")
        status.append(f'pulseguard_server_status{ids},status="{_label(current)}"}} {ONE}\n')
        if response_ms is not None:
            response.append(f"pulseguard_server_response_time_seconds{ids}}} {floatToGoString(response_ms / 1000)}\n")
        if cert_days is not None:
            cert.append(f"pulseguard_certificate_days_remaining{ids}}} {floatToGoString(cert_days)}\n")

    out: list[str] = []
    _family(out, "pulseguard_server_up", "gauge", "1 when the server is up or degraded, 0 when down.")
    out += up
    _family(out, "pulseguard_server_status", "gauge", "1 for the server's current status.")
    out += status
    _family(out, "pulseguard_server_response_time_seconds", "gauge", "Response time of the last check.")
    out += response
    _family(out, "pulseguard_certificate_days_remaining", "gauge", "Whole days until the TLS certificate expires.")
    out += cert
    _location_series(out, location_rows(team_id))
    _family(out, "pulseguard_servers", "gauge", "Servers by current status.")
    out += (f'pulseguard_servers{{status="{value}"}} {floatToGoString(per_status[value])}\n' for value in Status.values)
    if team_id is None:
        _check_counters(out, totals)
    _family(out, "pulseguard_notification_deliveries", "gauge", "Alert deliveries by state.")
    out += (
        f'pulseguard_notification_deliveries{{state="{state}"}} '
        f"{floatToGoString(totals.get(f'{DELIVERIES}{state}', 0.0))}\n"
        for state in DeliveryStatus.values
    )
    return "".join(out).encode("utf-8")


def _location_series(out: list[str], rows: list[tuple[int, str, str, str, float | None]]) -> None:
    up, response = [], []
    for server_id, name, slug, current, response_ms in rows:
        ids = f'{{location="{_label(slug)}",name="{_label(name)}",server_id="{server_id}"'
        if current in UP_STATUSES:
            up.append(f"pulseguard_server_location_up{ids}}} {ONE if UP_STATUSES[current] else ZERO}\n")
        if response_ms is not None:
            response.append(
                f"pulseguard_server_location_response_time_seconds{ids}}} {floatToGoString(response_ms / 1000)}\n"
            )
    _family(
        out,
        "pulseguard_server_location_up",
        "gauge",
        "1 when the server is up or degraded at this location, 0 when down there.",
    )
    out += up
    _family(
        out,
        "pulseguard_server_location_response_time_seconds",
        "gauge",
        "Response time of the last check from this location.",
    )
    out += response


def _check_counters(out: list[str], totals: dict[str, float]) -> None:
    _family(out, "pulseguard_checks_total", "counter", "Checks finished, by outcome.")
    out += (
        f'pulseguard_checks_total{{outcome="{outcome}"}} {floatToGoString(totals.get(f"{CHECKS}{outcome}", 0.0))}\n'
        for outcome in PingStatus.values
    )
    _family(out, "pulseguard_check_lateness_seconds", "histogram", "How late scheduled checks started: start - due.")
    cumulative = 0.0
    for label in [*map(repr, LATENESS_BUCKETS), "+Inf"]:
        cumulative += totals.get(f"{LATENESS_BUCKET}{label}", 0.0)
        out.append(f'pulseguard_check_lateness_seconds_bucket{{le="{label}"}} {floatToGoString(cumulative)}\n')
    out.append(f"pulseguard_check_lateness_seconds_count {floatToGoString(cumulative)}\n")
    out.append(f"pulseguard_check_lateness_seconds_sum {floatToGoString(totals.get(LATENESS_SUM, 0.0))}\n")
