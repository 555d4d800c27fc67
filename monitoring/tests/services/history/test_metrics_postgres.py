"""On PostgreSQL, recorders counting checks at once lose no count and never deadlock."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection

from conftest import require_postgres
from monitoring.choices import PingStatus
from monitoring.models import MetricCounter
from monitoring.services.history import metrics

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_recorders_count_every_check(monkeypatch):
    require_postgres()
    monkeypatch.setattr(metrics, "SHARDS", 2)  # few shards: recorders meet on the same rows
    recorders, batches = 4, 30
    start = threading.Barrier(recorders)
    failures: list[BaseException] = []

    def recorder() -> None:
        try:
            start.wait(timeout=10)
            for _ in range(batches):
                outcomes = random.choices(list(PingStatus.values), k=3)
                metrics.count_checks(outcomes, [random.random() * 2 for _ in outcomes])  # its own transaction
        except Exception as exc:  # noqa: BLE001 - a deadlock would land here; the test reports it
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=recorder) for _ in range(recorders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    totals = metrics.counter_totals()
    checks = sum(v for k, v in totals.items() if k.startswith(metrics.CHECKS))
    buckets = sum(v for k, v in totals.items() if k.startswith(metrics.LATENESS_BUCKET))
    assert checks == buckets == recorders * batches * 3
    assert set(MetricCounter.objects.values_list("shard", flat=True)) <= {0, 1}
