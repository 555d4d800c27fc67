"""Benchmark: one check pass over N servers against a local HTTP target.

Measures claiming (claim_due), the whole pass (probe + record per server) and the peak
memory of this process. It talks only to 127.0.0.1.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pulseguard_bench \
        .venv/bin/python bench/bench_checks.py --servers 1000 --concurrency 20

On SQLite (the default) it uses bench/bench.sqlite3, recreated each run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'bench' / 'bench.sqlite3'}")
os.environ.setdefault("LOG_LEVEL", "warning")


def serve_target(ready: multiprocessing.Queue[int], delay: float) -> None:
    from tests.targets import LocalHTTPServer

    with LocalHTTPServer() as target:
        target.set("/", 200, "ok", delay=delay)
        ready.put(target.port)
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--target-delay", type=float, default=0.0, help="Seconds the target waits per answer.")
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
    from django.utils import timezone

    from monitoring.models import PingResult, Server
    from monitoring.tasks.claims import claim_due
    from monitoring.tasks.engine import run_once

    call_command("migrate", verbosity=0)
    User.objects.filter(username="bench").delete()  # a reused PostgreSQL database starts empty
    owner = User.objects.create_user("bench")

    # The target runs in its own process so it does not share this one's GIL with the checks.
    ready: multiprocessing.Queue[int] = multiprocessing.Queue()
    target = multiprocessing.Process(target=serve_target, args=(ready, args.target_delay), daemon=True)
    target.start()
    port = ready.get(timeout=30)
    try:
        for n in range(args.servers):
            Server.objects.create(
                owner=owner,
                name=f"bench-{n}",
                protocol="http",
                host="127.0.0.1",
                port=port,
                check_interval=60,
                timeout=5,
            )
        print(
            f"database={connection.vendor} servers={args.servers} concurrency={args.concurrency} "
            f"target_delay={args.target_delay}s"
        )
        claims, passes = [], []
        for n in range(args.passes):
            Server.objects.update(next_check_at=timezone.now())
            started = time.perf_counter()
            owner = f"bench-{n}"
            servers = claim_due(timezone.now(), owner=owner, limit=args.servers)
            claimed = time.perf_counter()
            summary = run_once(servers, concurrency=args.concurrency, claimed_by=owner)
            done = time.perf_counter()
            assert summary.checked == args.servers and not summary.errors, summary.errors[:3]
            claims.append(claimed - started)
            passes.append(done - claimed)
            print(
                f"pass {n + 1}: claim {claimed - started:.3f}s, checks {done - claimed:.2f}s "
                f"({args.servers / (done - claimed):.0f} checks/s)"
            )
    finally:
        target.terminate()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"median: claim {statistics.median(claims):.3f}s, pass {statistics.median(passes):.2f}s, "
        f"{args.servers / statistics.median(passes):.0f} checks/s; peak RSS {rss_mb:.0f} MB; "
        f"ping rows {PingResult.objects.count()}"
    )


if __name__ == "__main__":
    main()
