"""Seed a benchmark database with many servers and results, fast, with PostgreSQL COPY.

- ``--servers`` servers of one user (``bench-api``, password ``bench-api``), each with its
  ServerStatus;
- ``--results`` PingResults: every server checked every ``--interval`` seconds, the most
  recent rounds up to now, written in time order (as the scheduler records them), 2 %
  failures;
- the rollups of those hours, by the same recompute the scheduler's job runs;
- ``--history-servers`` of them also get 90 days of older hourly rollups, and the raw-history
  horizon is set to the first raw hour: the state of an install that has pruned its raw
  rows, so 90-day uptime and 30-day charts read rollups as they would there.

It empties this user's servers first, and refuses a database whose name lacks "bench":

    createdb -h 127.0.0.1 -U postgres pg_i8_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pg_i8_bench \\
      .venv/bin/python bench/seed_history.py --servers 10000 --results 10000000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.development")

USERNAME = "bench-api"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--results", type=int, default=10_000_000)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--history-servers", type=int, default=100, help="servers that also get 90 days of rollups")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from monitoring.choices import PingKind
    from monitoring.models import RawHistoryHorizon, Server, ServerStatus
    from monitoring.services.history.rollups import floor_hour, hours_between, recompute

    if connection.vendor != "postgresql" or "bench" not in connection.settings_dict["NAME"]:
        sys.exit("Point DATABASE_URL at a PostgreSQL database whose name contains 'bench' (it gets emptied).")
    call_command("migrate", verbosity=0)
    owner, _ = User.objects.get_or_create(username=USERNAME)
    owner.set_password(USERNAME)
    owner.save()
    now = datetime.now(UTC)
    began = time.monotonic()
    Server.objects.filter(owner=owner).delete()
    servers = Server.objects.bulk_create(
        [
            Server(
                owner=owner,
                team=owner.personal_team,
                status="up",
                name=f"srv-{n:05d}",
                host=f"host{n}.example.com",
                tags=["bench", f"g{n % 10}"],
            )
            for n in range(args.servers)
        ],
        batch_size=2000,
    )
    # bulk_create skips Server.save(), which makes each server's ServerStatus: make them here.
    ServerStatus.objects.bulk_create(
        [ServerStatus(server=s, status="up", uptime_percentage=98.0, last_check=now) for s in servers],
        batch_size=2000,
    )
    ids = [s.pk for s in servers]
    print(f"{len(ids)} servers in {time.monotonic() - began:.1f} s", flush=True)

    rounds = max(args.results // len(ids), 1)
    start = now - timedelta(seconds=rounds * args.interval)
    rng = random.Random(8)
    began = time.monotonic()
    written = 0
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE monitoring_pingresult, monitoring_hourlyrollup CASCADE")
        raw = cursor.connection
        columns = (
            "server_id, status, response_time, status_code, error_message, check_timestamp, maintenance, body, kind"
        )
        with raw.cursor().copy(f"COPY monitoring_pingresult ({columns}) FROM STDIN") as copy:
            for r in range(rounds):
                base = start + timedelta(seconds=r * args.interval)
                step = timedelta(seconds=args.interval) / len(ids)
                for n, server_id in enumerate(ids):
                    failed = rng.random() < 0.02
                    copy.write_row(
                        (
                            server_id,
                            "failure" if failed else "success",
                            round(rng.uniform(20, 300), 2),
                            500 if failed else 200,
                            "HTTP 500" if failed else "",
                            base + step * n,
                            False,
                            "",
                            PingKind.CHECK,
                        )
                    )
                written += len(ids)
                if r % 100 == 99:
                    print(f"  {written} results, {time.monotonic() - began:.0f} s", flush=True)
    print(f"{written} results in {time.monotonic() - began:.1f} s", flush=True)

    began = time.monotonic()
    recompute(hours_between(start, now))
    print(f"rollups of {len(hours_between(start, now))} hours in {time.monotonic() - began:.1f} s", flush=True)

    began = time.monotonic()
    first_raw = floor_hour(start)  # the raw rows cover everything from here
    with connection.cursor() as cursor:
        # Older history for a few servers exists only as rollups, as after pruning.
        hours = hours_between(first_raw - timedelta(days=90), first_raw - timedelta(hours=1))
        with cursor.connection.cursor().copy(
            "COPY monitoring_hourlyrollup (server_id, hour, checks, failures, maintenance, timed, response_time_min,"
            " response_time_avg, response_time_p50, response_time_p95, response_time_max, updated_at, valued)"
            " FROM STDIN"
        ) as copy:
            per_hour = 3600 // args.interval
            for server_id in ids[: args.history_servers]:
                for hour in hours:
                    failures = rng.randint(0, 2)
                    copy.write_row(
                        (
                            server_id,
                            hour,
                            per_hour,
                            failures,
                            0,
                            per_hour - failures,
                            20.0,
                            150.0,
                            150.0,
                            285.0,
                            300.0,
                            now,
                            0,
                        )
                    )
        cursor.execute("VACUUM ANALYZE monitoring_pingresult")
        cursor.execute("VACUUM ANALYZE monitoring_hourlyrollup")
        # Every other table too: without statistics on the 10,000 fresh servers PostgreSQL
        # guessed 4 rows for one owner and sorted all 10,000 (36 ms) for a page of 50 that
        # the (owner, name) index answers in 0.5 ms; autovacuum would get there later.
        cursor.execute("ANALYZE")
    RawHistoryHorizon.advance(first_raw)
    print(f"90 days of rollups for {args.history_servers} servers in {time.monotonic() - began:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), pg_size_pretty(pg_total_relation_size('monitoring_pingresult')),"
            " pg_size_pretty(pg_total_relation_size('monitoring_hourlyrollup')) FROM monitoring_pingresult"
        )
        count, ping_size, rollup_size = cursor.fetchone()
    print(f"seeded: {count} results ({ping_size}), rollups {rollup_size}; history servers: ids {ids[0]}…")


if __name__ == "__main__":
    main()
