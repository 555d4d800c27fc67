"""Benchmark: one GET /metrics scrape over N servers (SPEC §14: cheap at 10,000 servers).

Seeds N servers with a status, a last response time and a certificate check each (half of
them), some counters and deliveries, then scrapes /metrics through Django's test client
(the whole view: auth, two queries, rendering) and reports the time and the query count.

    .venv/bin/python bench/bench_metrics.py --servers 10000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pg_i10 .venv/bin/python bench/bench_metrics.py

On SQLite (the default) it uses bench/bench_metrics.sqlite3, recreated each run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'bench' / 'bench_metrics.sqlite3'}")
os.environ.setdefault("LOG_LEVEL", "warning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=10)
    args = parser.parse_args()

    db_url = os.environ["DATABASE_URL"]
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).unlink(missing_ok=True)

    import django

    from core.env import settings_module

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.utils import timezone

    from monitoring.choices import PingStatus, Status
    from monitoring.models import CertificateCheck, NotificationConfig, NotificationDelivery, Server, ServerStatus
    from monitoring.services.history import metrics

    call_command("migrate", verbosity=0)
    User.objects.filter(username="bench-metrics").delete()  # a reused PostgreSQL database starts empty
    owner = User.objects.create_user("bench-metrics")
    words = [Status.UP, Status.UP, Status.UP, Status.DOWN, Status.DEGRADED, Status.PAUSED]
    now = timezone.now()
    seeded = time.perf_counter()
    servers = Server.objects.bulk_create(
        [
            Server(
                owner=owner,
                team=owner.personal_team,
                name=f"bench-{n}",
                protocol="https",
                host=f"h{n}.example.com",
                status=words[n % 6],
            )
            for n in range(args.servers)
        ],
        batch_size=1000,
    )
    ServerStatus.objects.bulk_create(
        [ServerStatus(server=s, status=s.status, last_response_time=10.0 + i % 500) for i, s in enumerate(servers)],
        batch_size=1000,
    )
    CertificateCheck.objects.bulk_create(
        [CertificateCheck(server=s, checked_at=now, days_remaining=i % 90) for i, s in enumerate(servers) if i % 2],
        batch_size=1000,
    )
    configs = NotificationConfig.objects.bulk_create(
        [
            NotificationConfig(team_id=s.team_id, notification_type="email", recipient="ops@example.com")
            for s in servers[:1000]
        ]
    )
    NotificationDelivery.objects.bulk_create([NotificationDelivery(config=c, event="down") for c in configs])
    for _ in range(50):
        metrics.count_checks([PingStatus.SUCCESS] * 20 + [PingStatus.FAILURE], [0.2] * 21)
    print(f"database={connection.vendor} servers={args.servers} seeded in {time.perf_counter() - seeded:.1f}s")

    client = Client(HTTP_HOST="localhost")
    times, counts, size = [], [], 0
    with override_settings(METRICS_TOKEN="bench-token"):
        for n in range(args.scrapes):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer bench-token")
                elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.status_code
            size = len(response.content)
            times.append(elapsed)
            counts.append(len(queries))
            print(f"scrape {n + 1}: {elapsed * 1000:.0f} ms, {len(queries)} queries, {size / 1024:.0f} KiB")
    print(
        f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms, "
        f"queries {sorted(set(counts))}, body {size / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
